-- Staging: the raw `calibrations` table as it is: one row per fitted calibration of the calibrated mode.
SELECT * FROM calibrations
