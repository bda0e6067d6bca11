-- How many segments the ETL kept: the loop needs some to augment.
SELECT count(*) AS kept FROM segments WHERE keep
