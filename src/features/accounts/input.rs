//! Sign-up and profile inputs, parsed at the edge: an [`Email`], a [`DisplayName`], a
//! [`Password`] cannot hold what the rules refuse. And the roles a person can have.

use super::super::validation::single_line;

/// A syntactically valid, lower-cased email address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> std::result::Result<Email, String> {
        let s = raw.trim().to_lowercase();
        let bad = || Err("Enter an email address like name@example.org.".to_string());
        if s.is_empty() {
            return Err("Email is required.".into());
        }
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad();
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return bad();
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return bad();
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> std::result::Result<DisplayName, String> {
        single_line(raw, "Display name", 80).map(DisplayName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the policy: 12 to 256 characters, not a known common password.
/// No composition rules and no truncation (OWASP ASVS 6.2).
pub struct Password(pub(super) String);

static COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

impl Password {
    pub fn parse(raw: &str, email: Option<&str>) -> std::result::Result<Password, String> {
        let n = raw.chars().count();
        if n < 12 {
            return Err("Use at least 12 characters.".into());
        }
        if n > 256 {
            return Err("Use at most 256 characters.".into());
        }
        let lower = raw.to_lowercase();
        let first = lower.chars().next().unwrap_or(' ');
        if lower.chars().all(|c| c == first)
            || COMMON_PASSWORDS.lines().any(|p| p == lower)
            || email.is_some_and(|e| e == lower)
        {
            return Err("This password is too common. Choose one that is harder to guess.".into());
        }
        Ok(Password(raw.to_string()))
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(REDACTED)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Organizer,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "member" => Some(Role::Member),
            "organizer" => Some(Role::Organizer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Organizer => "organizer",
            Role::Admin => "admin",
        }
    }
}

pub struct SignupInput<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(
            Email::parse("  Ada@Example.ORG ").unwrap().as_str(),
            "ada@example.org"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a da@example.org",
            "ada@@example.org",
            "ada@.example.org",
            "ada@example..org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.org", "a".repeat(65))).is_err());
    }

    #[test]
    fn password_policy_is_length_and_commonness_only() {
        assert!(Password::parse("elevenchars", None).is_err());
        assert!(Password::parse("twelve chars", None).is_ok());
        assert!(
            Password::parse("ÄÖÜäöüßéèêëï", None).is_ok(),
            "counted in characters, not bytes"
        );
        assert!(
            Password::parse("Password1234", None).is_err(),
            "common, case-insensitively"
        );
        assert!(Password::parse("aaaaaaaaaaaaaaaa", None).is_err());
        assert!(Password::parse("ada@example.org", Some("ada@example.org")).is_err());
        assert!(
            Password::parse(&"x y".repeat(100), None).is_err(),
            "over 256 characters"
        );
        assert_eq!(
            format!("{:?}", Password::parse("twelve chars", None).unwrap()),
            "Password(REDACTED)"
        );
    }
}
