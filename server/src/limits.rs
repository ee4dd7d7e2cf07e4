//! Limits shared by every way data enters reco (ingest and the REST server), so one id is
//! valid everywhere.

/// Longest user or item id, in bytes (UTF-8). Real ids are short codes (`17850`, `85123A`);
/// the cap keeps a hostile file or request from making megabyte-long keys.
pub const MAX_ID_BYTES: usize = 256;

/// Why an id is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdProblem {
    /// The id is empty.
    Empty,
    /// Longer than [`MAX_ID_BYTES`] (the length in bytes).
    TooLong(usize),
    /// Contains a control character (NUL, newline, tab, ESC, …), at this byte offset.
    ControlCharacter(usize),
}

impl std::fmt::Display for IdProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdProblem::Empty => write!(f, "is empty"),
            IdProblem::TooLong(n) => {
                write!(f, "is {n} bytes long, more than the {MAX_ID_BYTES} allowed")
            }
            IdProblem::ControlCharacter(at) => {
                write!(f, "contains a control character at byte {at}")
            }
        }
    }
}

/// Checks an id: not empty, at most [`MAX_ID_BYTES`] bytes, no control character.
pub fn check_id(id: &str) -> Result<(), IdProblem> {
    if id.is_empty() {
        return Err(IdProblem::Empty);
    }
    if id.len() > MAX_ID_BYTES {
        return Err(IdProblem::TooLong(id.len()));
    }
    match id.char_indices().find(|(_, c)| c.is_control()) {
        Some((at, _)) => Err(IdProblem::ControlCharacter(at)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert_eq!(check_id("85123A"), Ok(()));
        assert_eq!(check_id("Café ☕"), Ok(()));
        assert_eq!(check_id(""), Err(IdProblem::Empty));
        assert_eq!(check_id("a\0b"), Err(IdProblem::ControlCharacter(1)));
        assert_eq!(check_id("a\u{1b}[31m"), Err(IdProblem::ControlCharacter(1)));
        assert_eq!(check_id(&"x".repeat(256)), Ok(()));
        assert_eq!(check_id(&"x".repeat(257)), Err(IdProblem::TooLong(257)));
    }
}
