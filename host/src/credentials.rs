//! The secrets of the close workspace server: argon2id password hashes, and random tokens
//! (API tokens, session ids, CSRF tokens) kept in the ledger only as their SHA-256.

use anyhow::Context as _;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};

/// The shortest password accepted: long enough that a stolen hash is not cracked by trying
/// every short string (NIST SP 800-63B asks for at least 8; passphrases are encouraged).
pub const PASSWORD_CHARS_MIN: usize = 12;
/// The longest password accepted, so that one login cannot make the server hash megabytes.
pub const PASSWORD_BYTES_MAX: usize = 1_024;
/// Random bytes in an API token: 256 bits.
const TOKEN_BYTES: usize = 32;
/// The prefix of every API token, so that secret scanners and people can tell what it is.
pub const TOKEN_PREFIX: &str = "cbk_";

/// The argon2id parameters: OWASP's recommendation (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP's argon2id parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// `bytes` random bytes from the operating system, as lowercase hex.
pub fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer)
        .map_err(|error| anyhow::anyhow!("the operating system gave no random bytes: {error}"))?;
    Ok(hex::encode(buffer))
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A new API token: the prefix and 256 random bits in hex.
pub fn new_api_token() -> anyhow::Result<String> {
    Ok(format!("{TOKEN_PREFIX}{}", random_hex(TOKEN_BYTES)?))
}

/// Refuses a password too short or too long, saying what is needed.
pub fn check_password(password: &str) -> anyhow::Result<()> {
    let chars = password.chars().count();
    anyhow::ensure!(
        chars >= PASSWORD_CHARS_MIN,
        "the password has {chars} characters; use at least {PASSWORD_CHARS_MIN} (a few words make a good one)"
    );
    anyhow::ensure!(
        password.len() <= PASSWORD_BYTES_MAX,
        "the password is longer than {PASSWORD_BYTES_MAX} bytes; use a shorter one"
    );
    Ok(())
}

/// The argon2id hash of a password, as a PHC string with its own random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    check_password(password)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|error| anyhow::anyhow!("the operating system gave no random bytes: {error}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|error| anyhow::anyhow!("encoding the salt: {error}"))?;
    let hash = argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|error| anyhow::anyhow!("hashing the password: {error}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches a stored PHC hash (in constant time, by the argon2 crate). A hash
/// that does not parse matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > PASSWORD_BYTES_MAX {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    argon2().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A lifetime such as `90d`, `12h` or `30m`.
pub fn parse_lifetime(text: &str) -> anyhow::Result<chrono::Duration> {
    let text = text.trim();
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at(split);
    let count: i64 = number.parse().ok().filter(|count| *count > 0).with_context(|| {
        format!("{text:?} is not a lifetime: write a positive number and a unit, e.g. 90d, 12h or 30m")
    })?;
    let duration = match unit {
        "d" => chrono::Duration::try_days(count),
        "h" => chrono::Duration::try_hours(count),
        "m" => chrono::Duration::try_minutes(count),
        _ => None,
    };
    duration.with_context(|| {
        format!("{text:?} is not a lifetime: write a positive number and a unit (d, h or m), e.g. 90d")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_and_no_other() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
        // Each hash has its own salt.
        assert_ne!(hash, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn short_and_huge_passwords_are_refused_with_the_rule() {
        let short = hash_password("short").unwrap_err().to_string();
        assert!(short.contains("has 5 characters; use at least 12"), "{short}");
        let huge = "x".repeat(PASSWORD_BYTES_MAX + 1);
        assert!(hash_password(&huge).is_err());
        assert!(!verify_password(
            &huge,
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA"
        ));
    }

    #[test]
    fn tokens_are_256_random_bits_with_a_prefix() {
        let token = new_api_token().unwrap();
        assert_eq!(token.len(), TOKEN_PREFIX.len() + 64);
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_ne!(token, new_api_token().unwrap());
    }

    #[test]
    fn lifetimes_have_a_unit() {
        assert_eq!(parse_lifetime("90d").unwrap(), chrono::Duration::days(90));
        assert_eq!(parse_lifetime("12h").unwrap(), chrono::Duration::hours(12));
        for wrong in ["90", "d", "-1d", "0d", "5y", "", "99999999999999d"] {
            assert!(parse_lifetime(wrong).is_err(), "{wrong}");
        }
    }
}
