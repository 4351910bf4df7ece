//! Human-readable rendering shared by the batch reporter and the TUI: paths with odd
//! bytes escaped (the file itself is never renamed), sizes, durations and rates.

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// Shows a path on one line: control characters and bytes that are not UTF-8 are
/// escaped (`\n`, `\x1b`, `\xff`) so a hostile name cannot break the output.
pub struct DisplayPath<'a>(pub &'a Path);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.as_os_str().as_bytes().utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    '\\' => f.write_str("\\\\")?,
                    c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
                    c => fmt::Write::write_char(f, c)?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

pub fn display_path(p: &Path) -> String {
    DisplayPath(p).to_string()
}

/// `path` as a POSIX shell reads it back: bare when it holds only safe
/// characters, else in single quotes (a quote inside written `'\''`).
pub fn shell_quoted(path: &Path) -> String {
    let s = path.to_string_lossy();
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.into_owned();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Binary units, one decimal: `0 B`, `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

pub fn rate(bytes_per_sec: f64) -> String {
    if !bytes_per_sec.is_finite() || bytes_per_sec <= 0.0 {
        return "0 B/s".into();
    }
    format!("{}/s", bytes(bytes_per_sec as u64))
}

/// `42s`, `3m05s`, `2h07m`: short enough for a status line.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        if d < Duration::from_secs(10) {
            return format!("{:.1}s", d.as_secs_f64());
        }
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_a_shell_only_when_they_need_it() {
        assert_eq!(
            shell_quoted(Path::new("/a/.convoy-resume-1.part")),
            "/a/.convoy-resume-1.part"
        );
        assert_eq!(
            shell_quoted(Path::new("/my files/it's")),
            "'/my files/it'\\''s'"
        );
    }
    use std::ffi::OsStr;

    #[test]
    fn odd_bytes_and_newlines_are_escaped() {
        let p = Path::new(OsStr::from_bytes(b"a\nb\xff\x1bc"));
        assert_eq!(display_path(p), "a\\nb\\xff\\u{1b}c");
    }

    #[test]
    fn cjk_names_are_shown_as_they_are() {
        assert_eq!(display_path(Path::new("文件/ファイル")), "文件/ファイル");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn long_lines_wrap_at_spaces_under_their_first_word() {
        let lines = wrap_indented("permission bits not kept on 12 entries", 20, 2);
        assert_eq!(lines, ["permission bits not", "  kept on 12 entries"]);
        assert_eq!(wrap_indented("short", 20, 2), ["short"]);
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(duration(Duration::from_secs(42)), "42s");
        assert_eq!(duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(duration(Duration::from_secs(7620)), "2h07m");
    }
}

/// Shortens `s` to at most `max` terminal columns by cutting the middle, so
/// both the start of a path and its file name stay visible. Wide (CJK)
/// characters count as two columns.
pub fn ellipsize_middle(s: &str, max: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    if s.width() <= max {
        return s.to_string();
    }
    if max <= 1 {
        return "…".chars().take(max).collect();
    }
    let budget = max - 1;
    let (head_w, tail_w) = (budget / 2, budget - budget / 2);
    let mut head = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > head_w {
            break;
        }
        w += cw;
        head.push(c);
    }
    let mut tail: Vec<char> = Vec::new();
    let mut w = 0;
    for c in s.chars().rev() {
        let cw = c.width().unwrap_or(0);
        if w + cw > tail_w {
            break;
        }
        w += cw;
        tail.push(c);
    }
    tail.reverse();
    format!("{head}…{}", tail.into_iter().collect::<String>())
}

/// Like [`ellipsize_middle`], but a path keeps its file name whole when it can:
/// the folders give way first (`/home/us…/report.txt`).
pub fn ellipsize_path(s: &str, max: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    if s.width() <= max {
        return s.to_string();
    }
    match s.rfind('/') {
        Some(i) if s[i..].width() < max => {
            let tail = &s[i..];
            let mut head = String::new();
            let mut w = 0;
            for c in s.chars() {
                let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                if w + cw > max - tail.width() - 1 {
                    break;
                }
                w += cw;
                head.push(c);
            }
            format!("{head}…{tail}")
        }
        _ => ellipsize_middle(s, max),
    }
}

#[cfg(test)]
mod ellipsis_tests {
    use super::{ellipsize_middle, ellipsize_path};

    #[test]
    fn paths_keep_their_file_name() {
        let p = ellipsize_path("/data/source/docs/locked.txt", 18);
        assert_eq!(p, "/data/…/locked.txt");
        assert!(
            ellipsize_path("/a/verylongfilenamethatdoesnotfit.txt", 10)
                .chars()
                .count()
                <= 10
        );
    }
    use unicode_width::UnicodeWidthStr;

    #[test]
    fn long_paths_lose_their_middle_and_fit() {
        let s = "/home/user/projects/very/deep/folder/structure/file.txt";
        let e = ellipsize_middle(s, 20);
        assert_eq!(e.width(), 20);
        assert!(e.starts_with("/home/us") && e.ends_with("file.txt"), "{e}");
        assert_eq!(ellipsize_middle("short", 20), "short");
    }

    #[test]
    fn wide_characters_never_overflow_the_columns() {
        let s = "文件夹/子文件夹/另一个文件夹/最后的文件.txt";
        for max in 5..30 {
            assert!(ellipsize_middle(s, max).width() <= max, "max {max}");
        }
    }
}

/// `text` broken at spaces into lines of at most `width` columns, every
/// line after the first indented by `indent` spaces (a word longer than a
/// line stays whole).
pub fn wrap_indented(text: &str, width: usize, indent: usize) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let room = if lines.is_empty() {
            width
        } else {
            width.saturating_sub(indent)
        };
        if !line.is_empty() && line.width() + 1 + word.width() > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    let pad = " ".repeat(indent);
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| if i == 0 { l } else { format!("{pad}{l}") })
        .collect()
}

/// Bytes as lower-case hexadecimal (digests).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
