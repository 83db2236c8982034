//! Data sets for the transfer-learning toolkit, read from the layouts they are published in.
//!
//! | source | function | layout |
//! |---|---|---|
//! | embedded digits | [`digits`] | scikit-learn's `digits.csv.gz`, in the crate |
//! | MNIST, Fashion-MNIST | [`idx::mnist`], [`idx::load_idx`] | IDX, gzipped or not |
//! | USPS, any LIBSVM file | [`libsvm::usps`], [`libsvm::parse_libsvm`] | LIBSVM text, bzip2 or not |
//! | Omniglot | [`images::omniglot`], [`images::omniglot_runs`] | zips of PNGs, the 20 one-shot runs |
//! | emoji (Google, Twitter) | [`emoji::emoji`] | `emoji.json` + one zip of RGBA PNGs per vendor |
//! | Amazon reviews | [`text::amazon_domain`] | `DOMAIN/{positive,negative}.review` pseudo-XML |
//! | text tables | [`text::load_text_table`] | CSV/TSV with a header, RFC 4180 quoting |
//! | your images | [`images::image_folder`] | one subfolder per class, PNG/JPEG |
//!
//! Around them: [`transform`] (resize, pad, crop, normalise, grey/RGB, seeded augmentation),
//! [`shift`] (MNIST-M-style colour, rotation, inversion, noise, blur, contrast; a
//! dSprites-style generator), [`split`] (class selection, k per class, stratified splits,
//! N-way K-shot episodes) and [`summary`]. Every malformed input is a [`DataError`] naming
//! the file and, where there is one, the line.
//!
//! Real data is found through `TL_DATA_DIR` ([`tl_core::paths::data_dir`]), laid out as
//! `mnist/`, `usps/`, `omniglot/`, `amazon-reviews/`, `emoji/`; every loader also takes explicit paths.
//!
//! ```
//! let digits = tl_data::digits()?;
//! let source = tl_data::split::select_classes(&digits, &[0, 1, 2, 3, 4])?;
//! let (few, _rest) = tl_data::split::k_per_class(&source, 10, 0)?;
//! assert_eq!(few.len(), 50);
//! let rotated = tl_data::shift::Shift::Rotate { degrees: 30.0 }.apply(&few, 0)?;
//! assert_eq!(rotated.domain, "digits+rotate30");
//! # Ok::<(), tl_data::DataError>(())
//! ```

mod digits;
pub mod emoji;
mod error;
pub mod idx;
pub mod images;
pub mod io;
pub mod libsvm;
pub mod shift;
pub mod split;
pub mod summary;
pub mod text;
pub mod transform;

pub use digits::{DIGITS_LEN, digits, parse_digits_csv};
pub use error::{DataError, Result};
