//! Hyperparameters of [`super::fit`], their defaults, validation and JSON form.
use alloc::format;
use alloc::string::String;

use serde_json::{json, Value};

use crate::error::{RecoError, Result};

/// The ranking loss optimized by [`super::fit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Loss {
    /// Weighted Approximate-Rank Pairwise loss (Weston et al. 2011), LightFM's `warp`.
    #[default]
    Warp,
    /// k-th order statistic WARP (Weston et al. 2013), LightFM's `warp-kos`: per step, sample
    /// `n` of the user's positives and train on the `k`-th best scored one.
    WarpKos {
        /// Which order statistic (1 = best scored of the sample).
        k: usize,
        /// How many positives are sampled per step.
        n: usize,
    },
    /// Bayesian Personalised Ranking (Rendle et al. 2009), LightFM's `bpr`.
    Bpr,
}

impl Loss {
    /// LightFM's name of the loss: `warp`, `warp-kos` or `bpr`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Loss::Warp => "warp",
            Loss::WarpKos { .. } => "warp-kos",
            Loss::Bpr => "bpr",
        }
    }
}

/// The per-parameter learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schedule {
    /// `lr / sqrt(1 + Σ g²)` (Duchi et al. 2011; accumulators start at 1 as in LightFM).
    #[default]
    Adagrad,
    /// ADADELTA (Zeiler 2012) with decay `rho` and conditioning `epsilon`.
    Adadelta,
}

impl Schedule {
    /// LightFM's name of the schedule: `adagrad` or `adadelta`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Schedule::Adagrad => "adagrad",
            Schedule::Adadelta => "adadelta",
        }
    }
}

/// Training hyperparameters (LightFM 1.17 names in parentheses).
#[derive(Debug, Clone, PartialEq)]
pub struct LightFmParams {
    /// Embedding dimension (`no_components`); default 64.
    pub factors: usize,
    /// Loss; default [`Loss::Warp`].
    pub loss: Loss,
    /// Learning-rate schedule; default [`Schedule::Adagrad`].
    pub schedule: Schedule,
    /// Adagrad's initial learning rate; default 0.05.
    pub learning_rate: f32,
    /// Adadelta's moving-average decay, in (0, 1); default 0.95.
    pub rho: f32,
    /// Adadelta's conditioning term, > 0; default 1e-6.
    pub epsilon: f32,
    /// Most negatives sampled per WARP step; default 10.
    pub max_sampled: usize,
    /// Passes over the positive interactions; default 30.
    pub epochs: usize,
    /// L2 penalty on user feature parameters; default 0.
    pub user_alpha: f32,
    /// L2 penalty on item feature parameters; default 0.
    pub item_alpha: f32,
    /// Seed of initialization, shuffling and negative sampling; default 42.
    pub seed: u64,
    /// Hogwild worker threads (`num_threads`); 0 = the current rayon pool's size. Ignored
    /// without the `std` feature (always 1). Default 0.
    pub threads: usize,
}

impl Default for LightFmParams {
    fn default() -> Self {
        LightFmParams {
            factors: 64,
            loss: Loss::Warp,
            schedule: Schedule::Adagrad,
            learning_rate: 0.05,
            rho: 0.95,
            epsilon: 1e-6,
            max_sampled: 10,
            epochs: 30,
            user_alpha: 0.0,
            item_alpha: 0.0,
            seed: 42,
            threads: 0,
        }
    }
}

fn invalid(name: &'static str, reason: String) -> RecoError {
    RecoError::InvalidParameter { name, reason }
}

fn positive_finite(name: &'static str, v: f32) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(name, format!("{v} must be a finite number > 0")))
    }
}

fn non_negative_finite(name: &'static str, v: f32) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(name, format!("{v} must be a finite number >= 0")))
    }
}

impl LightFmParams {
    /// Largest accepted `factors`.
    pub const MAX_FACTORS: usize = 4096;

    /// Checks every value; the first invalid one gives [`RecoError::InvalidParameter`].
    pub fn check(&self) -> Result<()> {
        if self.factors == 0 || self.factors > Self::MAX_FACTORS {
            return Err(invalid(
                "factors",
                format!("{} must be between 1 and {}", self.factors, Self::MAX_FACTORS),
            ));
        }
        positive_finite("learning_rate", self.learning_rate)?;
        if !(self.rho > 0.0 && self.rho < 1.0) {
            return Err(invalid(
                "rho",
                format!("{} must be strictly between 0 and 1", self.rho),
            ));
        }
        positive_finite("epsilon", self.epsilon)?;
        if self.max_sampled == 0 {
            return Err(invalid("max_sampled", "0 must be at least 1".into()));
        }
        if self.epochs == 0 {
            return Err(invalid("epochs", "0 must be at least 1".into()));
        }
        non_negative_finite("user_alpha", self.user_alpha)?;
        non_negative_finite("item_alpha", self.item_alpha)?;
        if let Loss::WarpKos { k, n } = self.loss {
            if n == 0 {
                return Err(invalid("n", "0 must be at least 1 (k-OS sample size)".into()));
            }
            if k == 0 || k > n {
                return Err(invalid("k", format!("{k} must be between 1 and n = {n}")));
            }
        }
        Ok(())
    }

    /// The hyperparameters as a flat JSON object (LightFM names for loss and schedule).
    pub fn to_json(&self) -> Value {
        let (k, n) = match self.loss {
            Loss::WarpKos { k, n } => (Some(k), Some(n)),
            _ => (None, None),
        };
        json!({
            "factors": self.factors,
            "loss": self.loss.as_str(),
            "k": k,
            "n": n,
            "learning_schedule": self.schedule.as_str(),
            "learning_rate": self.learning_rate,
            "rho": self.rho,
            "epsilon": self.epsilon,
            "max_sampled": self.max_sampled,
            "epochs": self.epochs,
            "user_alpha": self.user_alpha,
            "item_alpha": self.item_alpha,
            "seed": self.seed,
        })
    }

    /// Reads [`LightFmParams::to_json`] output; missing keys take their defaults, and a
    /// wrongly typed or invalid value is an [`RecoError::InvalidParameter`].
    pub fn from_json(v: &Value) -> Result<Self> {
        let d = LightFmParams::default();
        let uint = |name: &'static str, def: u64| -> Result<u64> {
            match v.get(name) {
                None | Some(Value::Null) => Ok(def),
                Some(x) => x
                    .as_u64()
                    .ok_or_else(|| invalid(name, format!("{x} is not a non-negative integer"))),
            }
        };
        let float = |name: &'static str, def: f32| -> Result<f32> {
            match v.get(name) {
                None | Some(Value::Null) => Ok(def),
                Some(x) => x
                    .as_f64()
                    .map(|f| f as f32)
                    .ok_or_else(|| invalid(name, format!("{x} is not a number"))),
            }
        };
        let loss = match v.get("loss").and_then(Value::as_str) {
            None | Some("warp") => Loss::Warp,
            Some("bpr") => Loss::Bpr,
            Some("warp-kos") => Loss::WarpKos {
                k: uint("k", 5)? as usize,
                n: uint("n", 10)? as usize,
            },
            Some(other) => {
                return Err(invalid(
                    "loss",
                    format!("{other:?} is not one of warp, warp-kos, bpr"),
                ))
            }
        };
        let schedule = match v.get("learning_schedule").and_then(Value::as_str) {
            None | Some("adagrad") => Schedule::Adagrad,
            Some("adadelta") => Schedule::Adadelta,
            Some(other) => {
                return Err(invalid(
                    "learning_schedule",
                    format!("{other:?} is not one of adagrad, adadelta"),
                ))
            }
        };
        let p = LightFmParams {
            factors: uint("factors", d.factors as u64)? as usize,
            loss,
            schedule,
            learning_rate: float("learning_rate", d.learning_rate)?,
            rho: float("rho", d.rho)?,
            epsilon: float("epsilon", d.epsilon)?,
            max_sampled: uint("max_sampled", d.max_sampled as u64)? as usize,
            epochs: uint("epochs", d.epochs as u64)? as usize,
            user_alpha: float("user_alpha", d.user_alpha)?,
            item_alpha: float("item_alpha", d.item_alpha)?,
            seed: uint("seed", d.seed)?,
            threads: d.threads,
        };
        p.check()?;
        Ok(p)
    }
}
