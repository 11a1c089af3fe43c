-- Consent: an owner's yes or no to one purpose, per device, recorded in the
-- device's home region. `consents` holds the decision in force; the history
-- keeps every decision with the receipt the owner was given (proof of consent,
-- GDPR Art. 7(1)).
CREATE TABLE consents (
  device_key text NOT NULL,
  purpose text NOT NULL,
  granted boolean NOT NULL,
  notice_version integer NOT NULL,
  language text NOT NULL,
  method text NOT NULL,
  decided_at timestamptz NOT NULL,
  receipt_id uuid NOT NULL,
  PRIMARY KEY (device_key, purpose)
);

CREATE TABLE consent_history (
  receipt_id uuid PRIMARY KEY,
  device_key text NOT NULL,
  purpose text NOT NULL,
  granted boolean NOT NULL,
  notice_version integer NOT NULL,
  language text NOT NULL,
  method text NOT NULL,
  decided_at timestamptz NOT NULL,
  receipt jsonb NOT NULL
);

CREATE INDEX consent_history_device ON consent_history (device_key, decided_at);
