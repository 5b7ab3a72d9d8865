//! Ed25519 signatures of plugin components, embedded as the last custom section
//! ([`SIGNATURE_SECTION`]) in the way `wasmsign2` does for modules: the signature travels with the
//! component through copies, registries and caches, and a component with an extra byte before
//! or after the signed part no longer verifies.
//!
//! The cryptography is `ed25519-dalek`'s (strict verification), never our own: what is signed is
//! a fixed domain-separation line followed by the SHA-256 of every byte of the component before
//! the signature section. A key is named by its key id, the first 8 bytes of the SHA-256 of the
//! public key in hex, which is what trust policies and refusals show.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::PackageError;
use super::sections::{ComponentSections, append_custom_section, read_sections, without_sections};

/// The custom section that holds a component's signature; it must be the component's last
/// section.
pub const SIGNATURE_SECTION: &str = "closebook:signature";

/// What a signature covers before the component's digest, so a closebook signature can never
/// be taken for a signature of anything else made with the same key.
const SIGNED_MESSAGE_PREFIX: &[u8] = b"closebook plugin signature v1\n";

/// The text form of a public key: this prefix and 64 hexadecimal characters.
pub const PUBLIC_KEY_PREFIX: &str = "closebook-ed25519:";

/// The text form of a secret key file: this prefix and the 64 hexadecimal characters of the seed.
pub const SECRET_KEY_PREFIX: &str = "closebook-ed25519-secret:";

/// Bytes of the signature section: its JSON is about 200 bytes; anything far larger is not ours.
const SIGNATURE_SECTION_BYTES_MAX: usize = 1024;

/// A public key that verifies plugin signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// A secret key that signs plugins.
pub struct SecretKey(SigningKey);

impl fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "SecretKey({})", self.public_key().key_id())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "PublicKey({})", self.key_id())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{PUBLIC_KEY_PREFIX}{}", hex::encode(self.0.as_bytes()))
    }
}

impl PublicKey {
    /// Reads `closebook-ed25519:<64 hex>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let hex_text = text.trim().strip_prefix(PUBLIC_KEY_PREFIX).ok_or_else(|| {
            format!("`{text}` is not a closebook public key: it starts with `{PUBLIC_KEY_PREFIX}` (the text `closebook plugin keygen` writes to the .pub file)")
        })?;
        let bytes: [u8; 32] = hex::decode(hex_text)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| format!("`{text}`: a public key is {PUBLIC_KEY_PREFIX} and 64 hexadecimal characters"))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| format!("`{text}` is not a valid Ed25519 public key"))
    }

    /// The key's short name: the first 8 bytes of the SHA-256 of the key, in hex.
    pub fn key_id(&self) -> String {
        key_id_of(&self.0)
    }
}

fn key_id_of(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

impl SecretKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| format!("the operating system gave no randomness: {error}"))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// Reads the text of a secret key file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let hex_text = text.trim().strip_prefix(SECRET_KEY_PREFIX).ok_or_else(|| {
            format!("it is not a closebook secret key (it starts with `{SECRET_KEY_PREFIX}`): pass the .key file `closebook plugin keygen` wrote, not the .pub file")
        })?;
        let seed: [u8; 32] = hex::decode(hex_text)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| format!("a secret key is {SECRET_KEY_PREFIX} and 64 hexadecimal characters"))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// The text of its file.
    pub fn to_file_text(&self) -> String {
        format!("{SECRET_KEY_PREFIX}{}\n", hex::encode(self.0.to_bytes()))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureSection {
    algorithm: String,
    key_id: String,
    /// The public key, so an untrusted signer can be named in full and added to a policy
    /// after review; trust is decided by the policy's keys, never by this field.
    public_key: String,
    signature: String,
}

/// What a component's signature says, checked cryptographically but not yet against a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    Unsigned,
    /// The signature verifies with the key it names.
    Valid {
        key: PublicKey,
    },
    /// There is a signature, and it does not verify: the component (or the signature) changed
    /// after signing.
    Invalid {
        key_id: String,
        reason: String,
    },
}

impl SignatureStatus {
    /// The key id the signature names, if any.
    pub fn key_id(&self) -> Option<String> {
        match self {
            SignatureStatus::Unsigned => None,
            SignatureStatus::Valid { key } => Some(key.key_id()),
            SignatureStatus::Invalid { key_id, .. } => Some(key_id.clone()),
        }
    }
}

fn signed_message(unsigned: &[u8]) -> Vec<u8> {
    let mut message = SIGNED_MESSAGE_PREFIX.to_vec();
    message.extend_from_slice(&Sha256::digest(unsigned));
    message
}

/// Signs `wasm`, replacing an earlier signature: the result is the component with the
/// signature section last.
pub fn sign(plugin: &str, wasm: &[u8], key: &SecretKey) -> Result<Vec<u8>, PackageError> {
    let sections = read_sections(plugin, wasm)?;
    let unsigned = without_sections(wasm, &sections, |name| name == SIGNATURE_SECTION);
    let signature = key.0.sign(&signed_message(&unsigned));
    let public_key = key.public_key();
    let section = SignatureSection {
        algorithm: "ed25519".to_owned(),
        key_id: public_key.key_id(),
        public_key: public_key.to_string(),
        signature: hex::encode(signature.to_bytes()),
    };
    let data = serde_json::to_vec(&section).expect("a signature section serializes");
    Ok(append_custom_section(&unsigned, SIGNATURE_SECTION, &data))
}

/// Checks the signature of an already walked component.
pub fn verify(sections: &ComponentSections<'_>, wasm: &[u8]) -> SignatureStatus {
    let signatures: Vec<_> = sections
        .custom
        .iter()
        .filter(|section| section.name == SIGNATURE_SECTION)
        .collect();
    let Some(section) = signatures.last() else {
        return SignatureStatus::Unsigned;
    };
    let invalid = |key_id: &str, reason: &str| SignatureStatus::Invalid {
        key_id: key_id.to_owned(),
        reason: reason.to_owned(),
    };
    if section.data.len() > SIGNATURE_SECTION_BYTES_MAX {
        return invalid("unknown", "the signature section is too large to be a signature");
    }
    let Ok(parsed) = serde_json::from_slice::<SignatureSection>(section.data) else {
        return invalid("unknown", "the signature section is not a closebook signature");
    };
    // The key id is shown in refusals; only a well-formed one is repeated.
    let key_id = if parsed.key_id.len() == 16 && parsed.key_id.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        parsed.key_id.to_ascii_lowercase()
    } else {
        "unknown".to_owned()
    };
    if signatures.len() > 1 {
        return invalid(&key_id, "the component has more than one signature section");
    }
    if section.range.end != wasm.len() {
        return invalid(&key_id, "bytes were added after the signature");
    }
    if parsed.algorithm != "ed25519" {
        return invalid(&key_id, "the signature is not an Ed25519 signature");
    }
    let Ok(key) = PublicKey::parse(&parsed.public_key) else {
        return invalid(&key_id, "the signature's public key is malformed");
    };
    if key.key_id() != key_id {
        return invalid(&key_id, "the key id does not belong to the signature's public key");
    }
    let Some(signature) = hex::decode(&parsed.signature)
        .ok()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        .map(|bytes| Signature::from_bytes(&bytes))
    else {
        return invalid(&key_id, "the signature is not 64 bytes of hexadecimal");
    };
    match key
        .0
        .verify_strict(&signed_message(&wasm[..section.range.start]), &signature)
    {
        Ok(()) => SignatureStatus::Valid { key },
        Err(_) => invalid(&key_id, "the component was changed after it was signed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the magic, the component version and layer.
    const EMPTY_COMPONENT: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    fn status(wasm: &[u8]) -> SignatureStatus {
        let sections = read_sections("test", wasm).unwrap();
        verify(&sections, wasm)
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let key = SecretKey::generate().unwrap();
        let component = append_custom_section(&EMPTY_COMPONENT, "note", b"hello");
        assert_eq!(status(&component), SignatureStatus::Unsigned);
        let signed = sign("test", &component, &key).unwrap();
        assert_eq!(status(&signed), SignatureStatus::Valid { key: key.public_key() });

        // One byte of the signed part changed.
        let mut tampered = signed.clone();
        let position = tampered.windows(5).position(|window| window == b"hello").unwrap();
        tampered[position] = b'j';
        assert!(
            matches!(status(&tampered), SignatureStatus::Invalid { reason, .. } if reason.contains("changed after it was signed"))
        );

        // A section added after the signature.
        let appended = append_custom_section(&signed, "note", b"more");
        assert!(matches!(status(&appended), SignatureStatus::Invalid { reason, .. } if reason.contains("added after")));

        // Re-signing with another key replaces the signature.
        let other = SecretKey::generate().unwrap();
        let resigned = sign("test", &signed, &other).unwrap();
        assert_eq!(
            status(&resigned),
            SignatureStatus::Valid {
                key: other.public_key()
            }
        );
    }

    #[test]
    fn keys_round_trip_through_their_text() {
        let key = SecretKey::generate().unwrap();
        let again = SecretKey::parse(&key.to_file_text()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let public = PublicKey::parse(&key.public_key().to_string()).unwrap();
        assert_eq!(public.key_id().len(), 16);
        assert!(
            PublicKey::parse("ed25519:00")
                .unwrap_err()
                .contains("is not a closebook public key")
        );
        assert!(SecretKey::parse(&key.public_key().to_string()).is_err());
    }
}
