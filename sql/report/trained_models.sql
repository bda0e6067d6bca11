-- The models the loop trained (humpback iterate): what each learned from, its loss, and the held-out
-- log-likelihood gain per output token in PyTorch and in its GGUF file (close when the export is faithful).
SELECT
    name, role, iteration, method, train_data, train_rows, seed_rows, augmented_rows, steps,
    round(first_loss, 3) AS first_loss, round(final_loss, 3) AS final_loss,
    round(heldout_loglik_torch - heldout_loglik_base_torch, 3) AS gain_torch,
    round(heldout_loglik_gguf - heldout_loglik_base_gguf, 3) AS gain_gguf,
    gguf_type, gguf_sha256
FROM stg_models
ORDER BY role, iteration, created_at
