//! A transfer problem stated once: which domains, which labels exist.

use crate::data::{LabelledSet, UnlabelledSet};
use crate::error::{CoreError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The parts a [`TransferTask`] may hold; strategies declare which they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskPart {
    /// Labelled data of the source domain.
    SourceLabelled,
    /// The (usually few) labelled examples of the target domain.
    TargetLabelled,
    /// Unlabelled data of the target domain.
    TargetUnlabelled,
    /// Held-out labelled target data, for evaluation only.
    TargetTest,
}

impl fmt::Display for TaskPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SourceLabelled => "labelled source set",
            Self::TargetLabelled => "labelled target set",
            Self::TargetUnlabelled => "unlabelled target set",
            Self::TargetTest => "target test set",
        })
    }
}

/// What a transfer problem has: source labelled, target labelled (few or none), target
/// unlabelled, target test, and the number of target classes.
///
/// Build it with [`TransferTask::new`] and the `with_*` setters, then [`validate`]:
/// input shapes must agree across all parts, labels must be `< num_classes`, and no part
/// that is present may be empty.
///
/// [`validate`]: TransferTask::validate
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TransferTask {
    /// Labelled source data.
    pub source: Option<LabelledSet>,
    /// Labelled target data (the few labels a user has).
    pub target_labelled: Option<LabelledSet>,
    /// Unlabelled target data.
    pub target_unlabelled: Option<UnlabelledSet>,
    /// Held-out labelled target data, never used for training or model selection.
    pub target_test: Option<LabelledSet>,
    /// Number of classes of the target task.
    pub num_classes: usize,
}

impl TransferTask {
    /// An empty task with `num_classes` target classes.
    pub fn new(num_classes: usize) -> Self {
        Self {
            num_classes,
            ..Self::default()
        }
    }

    /// Sets the labelled source set.
    pub fn with_source(mut self, set: LabelledSet) -> Self {
        self.source = Some(set);
        self
    }

    /// Sets the labelled target set.
    pub fn with_target_labelled(mut self, set: LabelledSet) -> Self {
        self.target_labelled = Some(set);
        self
    }

    /// Sets the unlabelled target set.
    pub fn with_target_unlabelled(mut self, set: UnlabelledSet) -> Self {
        self.target_unlabelled = Some(set);
        self
    }

    /// Sets the target test set.
    pub fn with_target_test(mut self, set: LabelledSet) -> Self {
        self.target_test = Some(set);
        self
    }

    /// Whether a part is present and non-empty.
    pub fn has(&self, part: TaskPart) -> bool {
        match part {
            TaskPart::SourceLabelled => self.source.as_ref().is_some_and(|s| !s.is_empty()),
            TaskPart::TargetLabelled => {
                self.target_labelled.as_ref().is_some_and(|s| !s.is_empty())
            }
            TaskPart::TargetUnlabelled => self
                .target_unlabelled
                .as_ref()
                .is_some_and(|s| !s.is_empty()),
            TaskPart::TargetTest => self.target_test.as_ref().is_some_and(|s| !s.is_empty()),
        }
    }

    /// Refuses, before any training, a strategy whose needed parts are missing.
    pub fn require(&self, strategy: &str, parts: &[TaskPart]) -> Result<()> {
        self.validate()?;
        match parts.iter().find(|p| !self.has(**p)) {
            Some(&part) => Err(CoreError::MissingTaskPart {
                strategy: strategy.to_string(),
                part,
            }),
            None => Ok(()),
        }
    }

    /// The labelled part `part` (source, labelled target or target test); a missing or empty
    /// one is an error naming `strategy` and the part.
    pub fn labelled(&self, part: TaskPart, strategy: &str) -> Result<&LabelledSet> {
        let set = match part {
            TaskPart::SourceLabelled => self.source.as_ref(),
            TaskPart::TargetLabelled => self.target_labelled.as_ref(),
            TaskPart::TargetTest => self.target_test.as_ref(),
            TaskPart::TargetUnlabelled => None,
        };
        set.filter(|s| !s.is_empty())
            .ok_or_else(|| CoreError::MissingTaskPart {
                strategy: strategy.to_string(),
                part,
            })
    }

    /// The unlabelled target set; a missing or empty one is an error naming `strategy`.
    pub fn unlabelled_target(&self, strategy: &str) -> Result<&UnlabelledSet> {
        self.target_unlabelled
            .as_ref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| CoreError::MissingTaskPart {
                strategy: strategy.to_string(),
                part: TaskPart::TargetUnlabelled,
            })
    }

    /// The item shape all parts share.
    pub fn item_shape(&self) -> Option<&[usize]> {
        self.parts().first().map(|(_, shape, _)| *shape)
    }

    fn parts(&self) -> Vec<(TaskPart, &[usize], usize)> {
        let mut parts = Vec::new();
        let labelled = [
            (TaskPart::SourceLabelled, &self.source),
            (TaskPart::TargetLabelled, &self.target_labelled),
            (TaskPart::TargetTest, &self.target_test),
        ];
        for (part, set) in labelled {
            if let Some(s) = set {
                parts.push((part, s.inputs.item_shape.as_slice(), s.len()));
            }
        }
        if let Some(s) = &self.target_unlabelled {
            parts.push((
                TaskPart::TargetUnlabelled,
                s.inputs.item_shape.as_slice(),
                s.len(),
            ));
        }
        parts
    }

    /// Checks that the parts hold together.
    pub fn validate(&self) -> Result<()> {
        if self.num_classes == 0 {
            return Err(CoreError::InvalidTask("num_classes is 0".into()));
        }
        let parts = self.parts();
        if parts.is_empty() {
            return Err(CoreError::InvalidTask("the task has no data at all".into()));
        }
        for (part, _, len) in &parts {
            if *len == 0 {
                return Err(CoreError::InvalidTask(format!("the {part} is empty")));
            }
        }
        let (first, shape, _) = parts[0];
        for (part, other, _) in &parts[1..] {
            if *other != shape {
                return Err(CoreError::InvalidTask(format!(
                    "the {first} has items of shape {shape:?} but the {part} has {other:?}"
                )));
            }
        }
        let targets = [
            (TaskPart::TargetLabelled, &self.target_labelled),
            (TaskPart::TargetTest, &self.target_test),
        ];
        for (part, set) in targets {
            if let Some(set) = set {
                set.validate()?;
                if let Some(&max) = set.labels.iter().max()
                    && max >= self.num_classes
                {
                    return Err(CoreError::InvalidTask(format!(
                        "the {part} has label {max}, out of range for {} classes",
                        self.num_classes
                    )));
                }
            }
        }
        if let Some(source) = &self.source {
            source.validate()?;
        }
        if let Some(unlabelled) = &self.target_unlabelled {
            unlabelled.validate()?;
        }
        Ok(())
    }
}
