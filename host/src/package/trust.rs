//! The trust policy of a close (`[trust]` in close.toml): which keys may sign the plugins it
//! loads (`keys`, or by publisher under `[trust.publishers.NAME]`, so a signer is shown by
//! name), and whether a plugin must be signed at all. Deciding is separate from
//! verifying (`signature.rs`): a signature that does not verify is refused whatever the policy,
//! and a valid one counts only if its key is one the policy lists.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::PackageError;
use super::signature::{PublicKey, SignatureStatus};

/// `[trust]` as written in close.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSection {
    #[serde(default)]
    pub require_signature: bool,
    /// Keys trusted without a publisher's name.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Publisher name -> its keys.
    #[serde(default)]
    pub publishers: BTreeMap<String, PublisherSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublisherSection {
    pub keys: Vec<String>,
}

/// Which keys a close trusts, and whether it requires a signature.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    pub require_signature: bool,
    /// Keys trusted without a publisher's name (`[trust] keys`).
    pub keys: Vec<PublicKey>,
    /// Publisher name -> its public keys.
    pub publishers: BTreeMap<String, Vec<PublicKey>>,
}

/// Who signed a plugin the policy accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The publisher the policy lists the key under; `None` for a key of `[trust] keys`.
    pub publisher: Option<String>,
    pub key_id: String,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.publisher {
            Some(publisher) => write!(formatter, "{publisher} (key {})", self.key_id),
            None => write!(formatter, "trusted key {}", self.key_id),
        }
    }
}

impl TrustPolicy {
    /// Reads `[trust]`, refusing a key that is not a closebook public key (naming where it is
    /// listed) and a key listed twice (a signer would have two names).
    pub fn from_section(section: &TrustSection) -> Result<Self, String> {
        let mut publishers = BTreeMap::new();
        let mut owners: BTreeMap<String, String> = BTreeMap::new();
        let mut keys = Vec::with_capacity(section.keys.len());
        for key in &section.keys {
            let key = PublicKey::parse(key).map_err(|error| format!("[trust] keys: {error}"))?;
            if owners.insert(key.key_id(), "[trust] keys".to_owned()).is_some() {
                return Err(format!("[trust] keys lists key {} twice; list it once", key.key_id()));
            }
            keys.push(key);
        }
        for (publisher, keys) in &section.publishers {
            if keys.keys.is_empty() {
                return Err(format!(
                    "[trust.publishers.{publisher}] lists no keys; add its public key (`keys = [\"closebook-ed25519:…\"]`) or remove the publisher"
                ));
            }
            let mut parsed = Vec::with_capacity(keys.keys.len());
            for key in &keys.keys {
                let key =
                    PublicKey::parse(key).map_err(|error| format!("[trust.publishers.{publisher}] keys: {error}"))?;
                if let Some(other) = owners.insert(key.key_id(), publisher.clone()) {
                    return Err(format!(
                        "[trust] key {} is listed under both {other} and {publisher}; list a key once, under one publisher or in [trust] keys",
                        key.key_id()
                    ));
                }
                parsed.push(key);
            }
            publishers.insert(publisher.clone(), parsed);
        }
        Ok(Self {
            require_signature: section.require_signature,
            keys,
            publishers,
        })
    }

    /// Who the policy says this key is: `Some(Some(publisher))` for a publisher's key,
    /// `Some(None)` for a key of `[trust] keys`, `None` when the policy does not list it.
    pub fn publisher_of(&self, key: &PublicKey) -> Option<Option<&str>> {
        if self.keys.contains(key) {
            return Some(None);
        }
        self.publishers
            .iter()
            .find(|(_, keys)| keys.contains(key))
            .map(|(publisher, _)| Some(publisher.as_str()))
    }

    /// Decides whether the plugin `plugin` (its name in close.toml) may load, given its
    /// verified signature status: the signer when it is signed by a trusted key, `None` when
    /// it is unsigned or signed by an unknown key and the policy does not require signatures.
    pub fn decide(&self, plugin: &str, status: &SignatureStatus) -> Result<Option<Signer>, PackageError> {
        match status {
            SignatureStatus::Invalid { key_id, reason } => Err(PackageError::SignatureInvalid {
                plugin: plugin.to_owned(),
                key_id: key_id.clone(),
                reason: reason.clone(),
            }),
            SignatureStatus::Unsigned if self.require_signature => Err(PackageError::Unsigned {
                plugin: plugin.to_owned(),
            }),
            SignatureStatus::Unsigned => Ok(None),
            SignatureStatus::Valid { key } => match self.publisher_of(key) {
                Some(publisher) => Ok(Some(Signer {
                    publisher: publisher.map(str::to_owned),
                    key_id: key.key_id(),
                })),
                None if self.require_signature => Err(PackageError::UntrustedKey {
                    plugin: plugin.to_owned(),
                    key_id: key.key_id(),
                    key: key.to_string(),
                }),
                None => Ok(None),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::signature::SecretKey;
    use super::*;

    fn policy(require_signature: bool, key: &PublicKey) -> TrustPolicy {
        let section: TrustSection = toml::from_str(&format!(
            "require_signature = {require_signature}\n[publishers.acme]\nkeys = [\"{key}\"]\n"
        ))
        .unwrap();
        TrustPolicy::from_section(&section).unwrap()
    }

    #[test]
    fn a_policy_accepts_its_keys_and_refuses_the_rest_when_it_requires_signatures() {
        let trusted = SecretKey::generate().unwrap().public_key();
        let stranger = SecretKey::generate().unwrap().public_key();
        let strict = policy(true, &trusted);
        let signer = strict
            .decide("fx", &SignatureStatus::Valid { key: trusted.clone() })
            .unwrap()
            .unwrap();
        assert_eq!(signer.publisher.as_deref(), Some("acme"));
        let refused = strict
            .decide("fx", &SignatureStatus::Valid { key: stranger.clone() })
            .unwrap_err()
            .to_string();
        assert!(refused.contains(&stranger.key_id()), "{refused}");
        assert!(refused.contains("plugin fx"), "{refused}");
        assert!(strict.decide("fx", &SignatureStatus::Unsigned).is_err());
        // Without require_signature, unsigned and unknown keys load; a broken signature never does.
        let lenient = policy(false, &trusted);
        assert_eq!(lenient.decide("fx", &SignatureStatus::Unsigned).unwrap(), None);
        assert_eq!(
            lenient.decide("fx", &SignatureStatus::Valid { key: stranger }).unwrap(),
            None
        );
        let invalid = SignatureStatus::Invalid {
            key_id: "0011223344556677".to_owned(),
            reason: "the component was changed after it was signed".to_owned(),
        };
        assert!(lenient.decide("fx", &invalid).is_err());
    }

    #[test]
    fn a_key_trusted_without_a_publisher_signs_as_itself() {
        let trusted = SecretKey::generate().unwrap().public_key();
        let section: TrustSection =
            toml::from_str(&format!("require_signature = true\nkeys = [\"{trusted}\"]\n")).unwrap();
        let policy = TrustPolicy::from_section(&section).unwrap();
        let signer = policy
            .decide("fx", &SignatureStatus::Valid { key: trusted.clone() })
            .unwrap()
            .unwrap();
        assert_eq!(signer.publisher, None);
        assert_eq!(signer.to_string(), format!("trusted key {}", trusted.key_id()));
        let stranger = SecretKey::generate().unwrap().public_key();
        assert!(policy.decide("fx", &SignatureStatus::Valid { key: stranger }).is_err());
        // A key both bare and under a publisher would sign under two names.
        let section: TrustSection = toml::from_str(&format!(
            "keys = [\"{trusted}\"]\n[publishers.acme]\nkeys = [\"{trusted}\"]\n"
        ))
        .unwrap();
        let refused = TrustPolicy::from_section(&section).unwrap_err();
        assert!(refused.contains("both [trust] keys and acme"), "{refused}");
        let section: TrustSection = toml::from_str("keys = [\"nope\"]\n").unwrap();
        assert!(
            TrustPolicy::from_section(&section)
                .unwrap_err()
                .starts_with("[trust] keys: ")
        );
    }

    #[test]
    fn a_malformed_or_shared_key_is_refused_naming_the_publisher() {
        let section: TrustSection = toml::from_str("[publishers.acme]\nkeys = [\"nope\"]\n").unwrap();
        assert!(
            TrustPolicy::from_section(&section)
                .unwrap_err()
                .contains("[trust.publishers.acme]")
        );
        let key = SecretKey::generate().unwrap().public_key();
        let section: TrustSection = toml::from_str(&format!(
            "[publishers.a]\nkeys = [\"{key}\"]\n[publishers.b]\nkeys = [\"{key}\"]\n"
        ))
        .unwrap();
        assert!(
            TrustPolicy::from_section(&section)
                .unwrap_err()
                .contains("both a and b")
        );
    }
}
