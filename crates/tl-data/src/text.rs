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

    /// Refuses a set whose parts disagree (its fields are public, and it deserialises as
    /// is): texts and labels (and ratings) of different counts, or a label that is not a
    /// class.
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: String| Err(DataError::Request(format!("{}: {reason}", self.domain)));
        if self.labels.len() != self.texts.len() {
            return fail(format!(
                "{} texts but {} labels",
                self.texts.len(),
                self.labels.len()
            ));
        }
        if let Some(r) = &self.ratings
            && r.len() != self.texts.len()
        {
            return fail(format!(
                "{} texts but {} ratings",
                self.texts.len(),
                r.len()
            ));
        }
        if let Some((i, &l)) = self
            .labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| l >= self.class_names.len())
        {
            return fail(format!(
                "text {i} has the label {l}, but there are {} classes",
                self.class_names.len()
            ));
        }
        Ok(())
    }

    /// Texts per class (labels that are not classes are not counted: see [`Self::validate`]).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l) {
                *c += 1;
            }
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
    // A byte-order mark (Excel's and pandas' `utf-8-sig`) is not part of the first field.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
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
/// missing column or an empty text is an error naming its line.
pub fn load_text_table(path: &Path, text_column: &str, label_column: &str) -> Result<TextSet> {
    let name = path.display().to_string();
    parse_text_table(
        &read_text_lossy(path)?,
        delimiter_for(path),
        &name,
        text_column,
        label_column,
    )
}

/// Reads the texts of column `text_column` of a CSV/TSV file with a header row, for an
/// unlabelled domain (no label column needed). A row with a missing column or an empty text
/// is an error naming its line.
pub fn load_text_column(path: &Path, text_column: &str) -> Result<Vec<String>> {
    let name = path.display().to_string();
    parse_text_column(
        &read_text_lossy(path)?,
        delimiter_for(path),
        &name,
        text_column,
    )
}

/// Tab for `.tsv` files, comma otherwise.
fn delimiter_for(path: &Path) -> char {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
    {
        '\t'
    } else {
        ','
    }
}

/// [`load_text_column`] on text already in memory.
pub fn parse_text_column(
    text: &str,
    delimiter: char,
    source_name: &str,
    text_column: &str,
) -> Result<Vec<String>> {
    Ok(table_columns(text, delimiter, source_name, &[text_column])?
        .into_iter()
        .map(|mut row| row.swap_remove(0))
        .collect())
}

/// The fields of `columns` (the first is the text, refused when empty) of every row after
/// the header.
fn table_columns(
    text: &str,
    delimiter: char,
    source_name: &str,
    columns: &[&str],
) -> Result<Vec<Vec<String>>> {
    let fail = |line: Option<usize>, reason: String| DataError::Parse {
        source_name: source_name.to_string(),
        line,
        reason,
    };
    let records = parse_delimited(text, delimiter, source_name)?;
    let Some(((_, header), rows)) = records.split_first() else {
        return Err(fail(None, "empty file: no header row".into()));
    };
    let at: Vec<usize> = columns
        .iter()
        .map(|name| {
            header
                .iter()
                .position(|h| h.trim() == *name)
                .ok_or_else(|| {
                    fail(
                        Some(1),
                        format!("no column `{name}` in the header {header:?}"),
                    )
                })
        })
        .collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        if row.len() != header.len() {
            return Err(fail(
                Some(*line),
                format!("{} fields, the header has {}", row.len(), header.len()),
            ));
        }
        // Every named column needs a value: a blank label would become a class `""`.
        for (k, (&i, name)) in at.iter().zip(columns).enumerate() {
            if row[i].trim().is_empty() {
                let what = if k == 0 { "text" } else { "label" };
                return Err(fail(
                    Some(*line),
                    format!("the {what} (column `{name}`) is empty"),
                ));
            }
        }
        out.push(at.iter().map(|&i| row[i].clone()).collect());
    }
    if out.is_empty() {
        return Err(fail(None, "no rows after the header".into()));
    }
    Ok(out)
}

/// [`load_text_table`] on text already in memory.
pub fn parse_text_table(
    text: &str,
    delimiter: char,
    source_name: &str,
    text_column: &str,
    label_column: &str,
) -> Result<TextSet> {
    let rows = table_columns(text, delimiter, source_name, &[text_column, label_column])?;
    let mut texts = Vec::with_capacity(rows.len());
    let mut raw_labels = Vec::with_capacity(rows.len());
    for mut row in rows {
        raw_labels.push(row.pop().unwrap_or_default().trim().to_string());
        texts.push(row.pop().unwrap_or_default());
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

impl TextSet {
    /// The same texts with labels renamed onto `class_names` (another domain's classes, in
    /// its order), so that two domains' labels mean the same. A label of this set that is not
    /// among `class_names` is an error naming it.
    pub fn with_class_names(&self, class_names: &[String]) -> Result<Self> {
        self.validate()?;
        let mut map = Vec::with_capacity(self.class_names.len());
        for name in &self.class_names {
            let Some(i) = class_names.iter().position(|c| c == name) else {
                return Err(DataError::Request(format!(
                    "{}: the label `{name}` is not one of the classes {class_names:?}",
                    self.domain
                )));
            };
            map.push(i);
        }
        Ok(Self {
            labels: self.labels.iter().map(|&l| map[l]).collect(),
            class_names: class_names.to_vec(),
            ..self.clone()
        })
    }

    /// Refuses a set that cannot train a classifier: no texts, or texts of one class only
    /// (named).
    pub fn check_trainable(&self) -> Result<()> {
        self.validate()?;
        let present: Vec<&String> = self
            .class_counts()
            .iter()
            .zip(&self.class_names)
            .filter(|(n, _)| **n > 0)
            .map(|(_, c)| c)
            .collect();
        match present.as_slice() {
            [] => Err(DataError::Request(format!("{}: no texts", self.domain))),
            [one] => Err(DataError::Request(format!(
                "{}: every text has the label `{one}`; a classifier needs at least two classes",
                self.domain
            ))),
            _ => Ok(()),
        }
    }
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

    #[test]
    fn text_columns_refuse_empty_texts_and_missing_columns_by_name() {
        let t = "id,text,label\n1,good,pos\n2, ,neg\n";
        let err = parse_text_table(t, ',', "r.csv", "text", "label").unwrap_err();
        assert_eq!(
            err.to_string(),
            "r.csv, line 3: the text (column `text`) is empty"
        );
        // A blank label is refused, not made a class `""`.
        let err = parse_text_table(
            "text,label\ngood,pos\nbad,  \n",
            ',',
            "r.csv",
            "text",
            "label",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "r.csv, line 3: the label (column `label`) is empty"
        );
        // A byte-order mark before a quoted header is not part of the first field.
        let bom = parse_text_table(
            "\u{feff}\"text\",\"label\"\n\"fine\",\"pos\"\n",
            ',',
            "b.csv",
            "text",
            "label",
        )
        .unwrap();
        assert_eq!(
            (bom.texts, bom.class_names),
            (vec!["fine".to_string()], vec!["pos".to_string()])
        );
        let err = parse_text_column("id,body\n1,x\n", ',', "u.csv", "text").unwrap_err();
        assert!(err.to_string().contains("no column `text`"), "{err}");
        // An unlabelled domain needs no label column.
        let texts =
            parse_text_column("text\nfine\n\"two, words\"\n", ',', "u.csv", "text").unwrap();
        assert_eq!(texts, vec!["fine".to_string(), "two, words".into()]);
    }

    #[test]
    fn labels_are_renamed_onto_another_domains_classes_or_refused() {
        let set = parse_text_table(
            "text\tlabel\na\tpositive\nb\tnegative\nc\tpositive\n",
            '\t',
            "t.tsv",
            "text",
            "label",
        )
        .unwrap();
        let classes = vec!["positive".to_string(), "negative".into(), "neutral".into()];
        let renamed = set.with_class_names(&classes).unwrap();
        assert_eq!(renamed.labels, vec![0, 1, 0]);
        assert_eq!(renamed.class_names, classes);
        let err = set
            .with_class_names(&["negative".to_string(), "good".into()])
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("the label `positive` is not one of"),
            "{err}"
        );
        assert!(set.check_trainable().is_ok());
        let one = set.select(&[0, 2]);
        let err = one.check_trainable().unwrap_err().to_string();
        assert!(err.contains("every text has the label `positive`"), "{err}");
        // A set built by hand (or deserialised) whose parts disagree is refused by name.
        let mut bad = set.clone();
        bad.labels[1] = 5;
        let err = bad.check_trainable().unwrap_err().to_string();
        assert!(
            err.contains("text 1 has the label 5, but there are 2 classes"),
            "{err}"
        );
        assert!(bad.with_class_names(&classes).is_err());
        bad.labels.pop();
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("3 texts but 2 labels"), "{err}");
    }
}
