//! Ids as types: an [`EventId`], a [`UserId`] and a [`MailId`] are canonical UUIDs, parsed
//! where they enter (a URL path, a row), so one kind cannot be passed for another and text
//! that is no id never reaches a query. In URLs a malformed id is simply not found.

use std::{fmt, ops::Deref, str::FromStr};

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A new time-ordered id (UUIDv7).
            pub fn new() -> Self {
                $name(uuid::Uuid::now_v7().to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            /// Any UUID spelling; kept in the one canonical form the database holds.
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                uuid::Uuid::parse_str(s)
                    .map(|u| $name(u.to_string()))
                    .map_err(|_| InvalidId)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        /// Queries take ids as text; an id reads as the text it is.
        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An event.
    EventId
);
id_type!(
    /// A person's account.
    UserId
);
id_type!(
    /// A row of the mail outbox.
    MailId
);
id_type!(
    /// A question asked in a live room.
    QuestionId
);
id_type!(
    /// A chat message in a live room.
    MessageId
);

/// Text that is not an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an id")]
pub struct InvalidId;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_to_one_canonical_form() {
        let id: EventId = "0190F0F0-0000-7000-8000-000000000001".parse().unwrap();
        assert_eq!(id.as_str(), "0190f0f0-0000-7000-8000-000000000001");
        assert!("1 OR 1=1".parse::<EventId>().is_err());
        assert!("".parse::<UserId>().is_err());
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"0190f0f0-0000-7000-8000-000000000001\""
        );
        assert!(serde_json::from_str::<MailId>("\"x\"").is_err());
        assert_ne!(UserId::new(), UserId::new());
    }
}
