-- A camera's stream address (rtsp://, http(s):// or a file), which the server watches while
-- the camera is approved. The address may carry a user name and password, so it is sealed
-- with the instance's secrets key; the form without credentials is kept beside it for
-- display.
ALTER TABLE cameras ADD COLUMN stream_sealed BYTEA;
ALTER TABLE cameras ADD COLUMN stream_shown TEXT;
