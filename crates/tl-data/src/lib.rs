//! Data sets for the transfer-learning toolkit.
//!
//! Today: the embedded scikit-learn digits (no files needed) and seeded class selection,
//! k-per-class sampling and stratified splits. Real data sets are read from the folder named
//! by `TL_DATA_DIR` (see [`tl_core::paths`]).
//!
//! ```
//! let digits = tl_data::digits()?;
//! let source = tl_data::split::select_classes(&digits, &[0, 1, 2, 3, 4])?;
//! let (few, _rest) = tl_data::split::k_per_class(&source, 10, 0)?;
//! assert_eq!(few.len(), 50);
//! # Ok::<(), tl_data::DataError>(())
//! ```

mod digits;
mod error;
pub mod split;

pub use digits::{DIGITS_LEN, digits, parse_digits_csv};
pub use error::{DataError, Result};
