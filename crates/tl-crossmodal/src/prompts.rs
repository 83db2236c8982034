//! Class prompts: the texts that stand for each class ("a handwritten digit seven", "an emoji
//! of a red apple"), from class names and templates, or given whole.

use tl_core::CoreError;
use tl_core::Result;

/// The placeholder a template puts the class name in.
pub const PLACEHOLDER: &str = "{}";

/// Texts for each class: `texts[i]` belongs to class `class_of[i]`; every class has one at
/// least.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassPrompts {
    /// Every prompt, class after class.
    pub texts: Vec<String>,
    /// The class of each prompt.
    pub class_of: Vec<usize>,
    /// The prompts of each class (indices into `texts`).
    pub of_class: Vec<Vec<usize>>,
}

impl ClassPrompts {
    /// Every template with every class name put in its `{}`. A template without `{}` (it
    /// would say the same of every class), an empty class name or no template at all is
    /// refused by name.
    pub fn from_templates(class_names: &[String], templates: &[String]) -> Result<Self> {
        if templates.is_empty() {
            return Err(CoreError::config("templates", "none given"));
        }
        if let Some(t) = templates.iter().find(|t| !t.contains(PLACEHOLDER)) {
            return Err(CoreError::config(
                "templates",
                format!("`{t}` has no `{PLACEHOLDER}` for the class name"),
            ));
        }
        let per_class = class_names
            .iter()
            .map(|name| {
                let name = name.trim();
                if name.is_empty() {
                    Vec::new()
                } else {
                    templates
                        .iter()
                        .map(|t| t.replace(PLACEHOLDER, name))
                        .collect()
                }
            })
            .collect();
        Self::from_texts(per_class)
    }

    /// Prompts given per class (descriptions, synonyms...). A class without a prompt, or an
    /// empty prompt, is refused by its index.
    pub fn from_texts(per_class: Vec<Vec<String>>) -> Result<Self> {
        if per_class.is_empty() {
            return Err(CoreError::data("class prompts", "no class"));
        }
        let (mut texts, mut class_of, mut of_class) = (Vec::new(), Vec::new(), Vec::new());
        for (c, prompts) in per_class.into_iter().enumerate() {
            if prompts.is_empty() {
                return Err(CoreError::data(
                    "class prompts",
                    format!("class {c} has no prompt (an empty name?)"),
                ));
            }
            let mut mine = Vec::new();
            for p in prompts {
                if p.trim().is_empty() {
                    return Err(CoreError::data(
                        "class prompts",
                        format!("class {c} has an empty prompt"),
                    ));
                }
                mine.push(texts.len());
                texts.push(p);
                class_of.push(c);
            }
            of_class.push(mine);
        }
        Ok(Self {
            texts,
            class_of,
            of_class,
        })
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.of_class.len()
    }

    /// The prompts as `&str`s.
    pub fn strs(&self) -> Vec<&str> {
        self.texts.iter().map(String::as_str).collect()
    }
}

/// Templates for handwritten digits.
pub fn digit_templates() -> Vec<String> {
    [
        "a handwritten digit {}",
        "the number {}",
        "a photo of the digit {}",
        "a drawing of a {}",
        "the digit {}, written by hand",
        "{}",
    ]
    .map(String::from)
    .to_vec()
}

/// Templates for emoji and small pictures (open_clip's style).
pub fn picture_templates() -> Vec<String> {
    [
        "an emoji of {}",
        "a picture of {}",
        "an icon of {}",
        "a drawing of {}",
        "{}",
    ]
    .map(String::from)
    .to_vec()
}

/// English names of the digits 0 to 9.
pub const DIGIT_WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_every_class_and_refuse_what_cannot_name_one() {
        let names = vec!["cat".to_string(), "dog".to_string()];
        let p = ClassPrompts::from_templates(&names, &["a {}".into(), "{} here".into()]).unwrap();
        assert_eq!(p.texts, ["a cat", "cat here", "a dog", "dog here"]);
        assert_eq!(p.class_of, [0, 0, 1, 1]);
        assert_eq!(p.of_class, [vec![0, 1], vec![2, 3]]);
        let err = ClassPrompts::from_templates(&names, &["a photo".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`a photo` has no `{}`"), "{err}");
        let err = ClassPrompts::from_templates(&["cat".into(), " ".into()], &["a {}".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("class 1 has no prompt"), "{err}");
        let err = ClassPrompts::from_texts(vec![vec!["x".into()], vec!["".into()]])
            .unwrap_err()
            .to_string();
        assert!(err.contains("class 1 has an empty prompt"), "{err}");
    }
}
