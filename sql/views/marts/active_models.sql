-- The trained model that speaks for each role and iteration: the newest registered one. When one is
-- registered, the marts count only its rows there (see candidates), so rows of the untrained base model
-- or of an earlier training run in the same warehouse do not mix into A_k.
SELECT *
FROM stg_models
QUALIFY row_number() OVER (PARTITION BY role, iteration ORDER BY created_at DESC, gguf_sha256) = 1
