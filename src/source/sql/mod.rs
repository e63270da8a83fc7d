//! What the pg_dump and mysqldump readers share: a lexer for the SQL both
//! tools write (`lexer`: comments, quoted strings and identifiers,
//! statements to skip), the values of INSERT tuples (`values`), and CREATE
//! TABLE columns and the choice of the table to import (`table`). The
//! bytes come through [`crate::source::reader::ByteReader`].
//!
//! Everything works on a stream: a statement or a value tuple is never held
//! whole unless it is the one being mapped, so an extended INSERT of many
//! gigabytes costs no more memory than its largest row.
//!
//! The lexer is hand-written rather than `sqlparser`: it must stream COPY
//! data and INSERT tuples of any size, keep each tuple's original bytes and
//! its line, and tell a truncated dump from a bad statement; a parser of
//! whole statements can do none of that.

pub mod lexer;
pub mod table;
pub mod values;

pub use lexer::{hex_digit, is_word_byte, Dialect, MarkerText, Markers, SqlLexer};
pub use table::{qualify, TableChoice};
pub use values::{bits_to_decimal, bytes_to_decimal, push_bytea_hex, Literal};
