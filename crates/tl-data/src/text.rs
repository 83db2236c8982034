//! Text data: labelled texts, the multi-domain Amazon reviews, and CSV/TSV files.

use crate::error::{DataError, Result};
use crate::io::read_text_lossy;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Labelled texts (the text counterpart of a `LabelledSet`, before any tokenizer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextSet {
    /// The texts.
    pub texts: Vec<String>,
    /// One label per text, `< class_names.len()`.
    pub labels: Vec<usize>,
    /// Names of the classes.
    pub class_names: Vec<String>,
    /// Where the texts come from (`"amazon/books"`).
    pub domain: String,
    /// Star ratings, where the source has them.
    pub ratings: Option<Vec<f32>>,
}

impl TextSet {
    /// Number of texts.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether there are no texts.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Texts per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// The texts at `indices`.
    pub fn select(&self, indices: &[usize]) -> Self {
        Self {
            texts: indices.iter().map(|&i| self.texts[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            domain: self.domain.clone(),
            ratings: self
                .ratings
                .as_ref()
                .map(|r| indices.iter().map(|&i| r[i]).collect()),
        }
    }
}

/// The four domains of the multi-domain sentiment data set.
pub const AMAZON_DOMAINS: [&str; 4] = ["books", "dvd", "electronics", "kitchen"];

/// One review of the pseudo-XML files.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// The `<review_text>`, trimmed.
    pub text: String,
    /// The `<rating>` (stars), when present and numeric.
    pub rating: Option<f32>,
}

/// Parses a `positive.review` / `negative.review` file: one `<review>` element per review,
/// the text in `<review_text>`. The files are not valid XML (unescaped `&`, `<` in text), so
/// this reads tags by position rather than with an XML parser.
pub fn parse_reviews(text: &str, source_name: &str) -> Result<Vec<Review>> {
    let mut reviews = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<review>") {
        let body_start = start + "<review>".len();
        let end = rest[body_start..]
            .find("</review>")
            .ok_or_else(|| DataError::Parse {
                source_name: source_name.to_string(),
                line: Some(text[..text.len() - rest.len() + start].lines().count() + 1),
                reason: "a <review> is not closed".into(),
            })?;
        let body = &rest[body_start..body_start + end];
        let text = tag(body, "review_text").ok_or_else(|| DataError::Parse {
            source_name: source_name.to_string(),
            line: Some(text[..text.len() - rest.len() + start].lines().count() + 1),
            reason: format!("review {} has no <review_text>", reviews.len() + 1),
        })?;
        let rating = tag(body, "rating").and_then(|r| r.trim().parse().ok());
        reviews.push(Review {
            text: text.trim().to_string(),
            rating,
        });
        rest = &rest[body_start + end + "</review>".len()..];
    }
    if reviews.is_empty() {
        return Err(DataError::Parse {
            source_name: source_name.to_string(),
            line: None,
            reason: "no <review> elements".into(),
        });
    }
    Ok(reviews)
}

fn tag<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&close)? + start;
    Some(&body[start..end])
}

/// One domain of the Amazon reviews (`dir/DOMAIN/{negative,positive}.review`): labels
/// 0 = negative, 1 = positive; negatives first, then positives, in file order.
pub fn amazon_domain(dir: &Path, domain: &str) -> Result<TextSet> {
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    let mut ratings = Vec::new();
    for (label, file) in ["negative.review", "positive.review"].iter().enumerate() {
        let path = dir.join(domain).join(file);
        let reviews = parse_reviews(&read_text_lossy(&path)?, &path.display().to_string())?;
        for r in reviews {
            texts.push(r.text);
            labels.push(label);
            ratings.push(r.rating.unwrap_or(f32::NAN));
        }
    }
    Ok(TextSet {
        texts,
        labels,
        class_names: vec!["negative".into(), "positive".into()],
        domain: format!("amazon/{domain}"),
        ratings: Some(ratings),
    })
}

/// Splits CSV (or, with `delimiter = '\t'`, TSV) text into records with the `csv` crate,
/// RFC 4180 quoting: fields in double quotes may hold the delimiter, newlines and `""` for a
/// quote; empty lines are skipped. A quote inside an unquoted field and a quoted field that
/// is never closed are errors naming their line. The delimiter must be one ASCII character.
/// Returns each record with the 1-based line it starts on.
pub fn parse_delimited(
    text: &str,
    delimiter: char,
    source_name: &str,
) -> Result<Vec<(usize, Vec<String>)>> {
    let fail = |line: Option<u64>, reason: String| DataError::Parse {
        source_name: source_name.to_string(),
        line: line.map(|l| l as usize),
        reason,
    };
    let delimiter = u8::try_from(delimiter)
        .ok()
        .filter(|d| d.is_ascii() && *d != b'"' && *d != b'\n' && *d != b'\r')
        .ok_or_else(|| fail(None, format!("{delimiter:?} cannot be a delimiter")))?;
    check_quotes(text, delimiter, source_name)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| fail(e.position().map(|p| p.line()), e.to_string()))?;
        let line = record_line(text, record.position());
        records.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(records)
}

/// The 1-based line a record of the `csv` crate starts on. Its position is where the reader
/// stood before the empty lines it skipped, so those are counted on.
pub(crate) fn record_line(text: &str, position: Option<&csv::Position>) -> usize {
    position.map_or(0, |p| {
        let rest = text.as_bytes().get(p.byte() as usize..).unwrap_or_default();
        let skipped = rest
            .iter()
            .take_while(|b| matches!(b, b'\n' | b'\r'))
            .filter(|&&b| b == b'\n')
            .count();
        p.line() as usize + skipped
    })
}

/// The two quoting faults the `csv` crate reads without complaint (it keeps a stray quote as
/// text, and an unclosed quoted field runs to the end of the file): both mean a broken file,
/// so they are refused by line before it parses.
fn check_quotes(text: &str, delimiter: u8, source_name: &str) -> Result<()> {
    let fail = |line: usize, reason: &str| DataError::Parse {
        source_name: source_name.to_string(),
        line: Some(line),
        reason: reason.into(),
    };
    let (mut line, mut opened_on) = (1, 1);
    let (mut quoted, mut field_start) = (false, true);
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        if b == b'\n' {
            line += 1;
        }
        if quoted {
            if b == b'"' && bytes.next_if_eq(&b'"').is_none() {
                quoted = false;
            }
            continue;
        }
        if b == b'"' {
            if !field_start {
                return Err(fail(line, "a quote inside an unquoted field"));
            }
            (quoted, opened_on) = (true, line);
        }
        field_start = b == delimiter || b == b'\n' || b == b'\r';
    }
    if quoted {
        return Err(fail(opened_on, "a quoted field is not closed"));
    }
    Ok(())
}

/// Reads a CSV/TSV file with a header row, taking the texts from column `text_column` and
/// the labels from `label_column`. Class names are the distinct labels, sorted; a row with a
/// missing column is an error naming its line.
pub fn load_text_table(path: &Path, text_column: &str, label_column: &str) -> Result<TextSet> {
    let name = path.display().to_string();
    let delimiter = if path.extension().is_some_and(|e| e == "tsv") {
        '\t'
    } else {
        ','
    };
    parse_text_table(
        &read_text_lossy(path)?,
        delimiter,
        &name,
        text_column,
        label_column,
    )
}

/// [`load_text_table`] on text already in memory.
pub fn parse_text_table(
    text: &str,
    delimiter: char,
    source_name: &str,
    text_column: &str,
    label_column: &str,
) -> Result<TextSet> {
    let records = parse_delimited(text, delimiter, source_name)?;
    let Some(((_, header), rows)) = records.split_first() else {
        return Err(DataError::Parse {
            source_name: source_name.to_string(),
            line: None,
            reason: "empty file: no header row".into(),
        });
    };
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| DataError::Parse {
                source_name: source_name.to_string(),
                line: Some(1),
                reason: format!("no column `{name}` in the header {header:?}"),
            })
    };
    let (t, l) = (column(text_column)?, column(label_column)?);
    let mut texts = Vec::with_capacity(rows.len());
    let mut raw_labels = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        if row.len() != header.len() {
            return Err(DataError::Parse {
                source_name: source_name.to_string(),
                line: Some(*line),
                reason: format!("{} fields, the header has {}", row.len(), header.len()),
            });
        }
        texts.push(row[t].clone());
        raw_labels.push(row[l].trim().to_string());
    }
    if texts.is_empty() {
        return Err(DataError::Parse {
            source_name: source_name.to_string(),
            line: None,
            reason: "no rows after the header".into(),
        });
    }
    let mut class_names = raw_labels.clone();
    class_names.sort();
    class_names.dedup();
    let labels = raw_labels
        .iter()
        .map(|l| class_names.binary_search(l).unwrap_or(0))
        .collect();
    Ok(TextSet {
        texts,
        labels,
        class_names,
        domain: source_name.to_string(),
        ratings: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviews_are_read_by_tag_despite_broken_xml() {
        let text = "<reviews>\n<review>\n<rating>\n4.0\n</rating>\n<review_text>\nGood & <cheap>\n</review_text>\n</review>\n<review><review_text>bad</review_text></review>\n";
        let r = parse_reviews(text, "t").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].text, "Good & <cheap>");
        assert_eq!(r[0].rating, Some(4.0));
        assert_eq!(r[1].rating, None);
        let err = parse_reviews("<review><rating>1</rating></review>", "t").unwrap_err();
        assert!(err.to_string().contains("has no <review_text>"), "{err}");
        let err = parse_reviews("x\n<review><review_text>a", "t").unwrap_err();
        assert!(
            err.to_string().contains("line 2: a <review> is not closed"),
            "{err}"
        );
        assert!(parse_reviews("", "t").is_err());
    }

    #[test]
    fn csv_follows_rfc4180_quoting() {
        let text = "id,text,label\r\n1,\"a, \"\"quoted\"\"\nline\",pos\n2,plain,neg\n";
        let set = parse_text_table(text, ',', "t", "text", "label").unwrap();
        assert_eq!(set.texts, vec!["a, \"quoted\"\nline", "plain"]);
        assert_eq!(set.class_names, vec!["neg", "pos"]);
        assert_eq!(set.labels, vec![1, 0]);
        let tsv = parse_text_table("text\tlabel\nhi\tx\n", '\t', "t", "text", "label").unwrap();
        assert_eq!(tsv.texts, vec!["hi"]);
    }

    #[test]
    fn bad_tables_name_the_line() {
        let cases = [
            ("text,label\na,b\nc\n", "line 3: 1 fields, the header has 2"),
            (
                "text,label\r\n\r\na,b\n\n\nc\n",
                "line 6: 1 fields, the header has 2",
            ),
            ("txt,label\na,b\n", "no column `text`"),
            (
                "text,label\n\"a,b\n",
                "line 2: a quoted field is not closed",
            ),
            (
                "text,label\na\"b,c\n",
                "line 2: a quote inside an unquoted field",
            ),
            ("", "empty file"),
            ("text,label\n", "no rows after the header"),
            (
                "text,label\n\"a\nb\",c\nd,\"e\"f\"\n",
                "line 4: a quote inside an unquoted field",
            ),
            (
                "text,label\n\"a\",b\nc,\"d\ne\n",
                "line 3: a quoted field is not closed",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_text_table(text, ',', "t", "text", "label")
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
