-- The owner token each erasure was asked with (docs/owners.md): its id (`jti`) and when the device
-- minted it (`iat`). An erasure ends every owner token of the device minted before it — the
-- latest of its own time and its token's — and the token it was asked with, except to ask the same
-- request again; so a token that leaked cannot reopen what is left, change a consent or ask
-- another erasure. Earlier erasures get their token id from the signed receipt they keep.
ALTER TABLE erasures ADD COLUMN owner_token_id text CHECK (length(owner_token_id) BETWEEN 1 AND 200);
ALTER TABLE erasures ADD COLUMN owner_token_issued_at timestamptz;

UPDATE erasures
   SET owner_token_id = convert_from(
         decode(rpad(translate(split_part(jws, '.', 2), '-_', '+/'),
                     ((length(split_part(jws, '.', 2)) + 3) / 4) * 4, '='), 'base64'),
         'UTF8')::jsonb ->> 'ownerTokenId';
