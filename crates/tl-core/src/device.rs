//! Choosing a backend at run time.
//!
//! Library crates never pick a backend (Burn's `Device::default()` follows whatever features
//! Cargo unified, so it would change under a user's feet); binaries, examples and tests call
//! [`device`] with a name.

use crate::error::{CoreError, Result};
use burn::tensor::Device;

/// Every device name [`device`] accepts.
pub const DEVICE_NAMES: [&str; 7] = [
    "flex", "ndarray", "wgpu", "wgpu-cpu", "tch", "tch-cuda", "auto",
];

/// The backends compiled into this build, best first.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    if cfg!(feature = "tch") {
        names.push("tch");
    }
    names
}

/// Turns a device name into a Burn [`Device`].
///
/// - `flex`: Burn's pure-Rust CPU backend (the default, and the fast one on CPUs);
/// - `ndarray`: the older CPU backend (deprecated upstream, about 25x slower on convolutions);
/// - `wgpu`: the default GPU adapter (Vulkan, Metal or DX12);
/// - `wgpu-cpu`: wgpu on a CPU adapter such as Mesa's lavapipe, for GPU code paths without a GPU;
/// - `tch`: LibTorch on the CPU (feature `tch`; PyTorch's own kernels, see the README's
///   "LibTorch" section for the set-up);
/// - `tch-cuda`: LibTorch on the first NVIDIA GPU (the same feature; PyTorch's Linux wheel
///   carries CUDA);
/// - `auto`: `wgpu` when compiled in and an adapter starts, else `flex`, else `ndarray`, else
///   `tch`.
///
/// A name whose backend was not compiled in is an error naming the Cargo feature to enable;
/// a GPU that does not start is an error too, never a panic in a worker thread.
pub fn device(name: &str) -> Result<Device> {
    match name.trim().to_ascii_lowercase().as_str() {
        "flex" => flex(),
        "ndarray" => ndarray(),
        "wgpu" => wgpu(false, name),
        "wgpu-cpu" => wgpu(true, name),
        "tch" => tch(false, name),
        "tch-cuda" => tch(true, name),
        "auto" => {
            let mut last = None;
            for candidate in compiled_backends() {
                match device(candidate) {
                    Ok(dev) => return Ok(dev),
                    Err(err) => last = Some(err),
                }
            }
            Err(last.unwrap_or_else(|| CoreError::BackendNotCompiled {
                device: "auto".into(),
                feature: "flex",
            }))
        }
        _ => Err(CoreError::UnknownDevice(name.to_string())),
    }
}

/// A short human name for a device, for reports.
pub fn device_label(device: &Device) -> String {
    format!("{device:?}")
}

#[cfg(feature = "flex")]
fn flex() -> Result<Device> {
    Ok(Device::flex())
}

#[cfg(not(feature = "flex"))]
fn flex() -> Result<Device> {
    Err(CoreError::BackendNotCompiled {
        device: "flex".into(),
        feature: "flex",
    })
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)] // kept for users who want it; `flex` is the recommended CPU backend
fn ndarray() -> Result<Device> {
    Ok(Device::ndarray())
}

#[cfg(not(feature = "ndarray"))]
fn ndarray() -> Result<Device> {
    Err(CoreError::BackendNotCompiled {
        device: "ndarray".into(),
        feature: "ndarray",
    })
}

#[cfg(feature = "wgpu")]
fn wgpu(cpu: bool, name: &str) -> Result<Device> {
    use burn::tensor::DeviceKind;
    use std::sync::Mutex;
    // Burn starts a wgpu runtime once per adapter and refuses a second start ("service
    // already initialized"); the started device is cloned for every later request.
    static STARTED: Mutex<[Option<Device>; 2]> = Mutex::new([None, None]);
    let mut started = STARTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let slot = &mut started[usize::from(cpu)];
    if let Some(device) = slot {
        return Ok(device.clone());
    }
    let kind = if cpu {
        DeviceKind::Cpu
    } else {
        DeviceKind::DefaultDevice
    };
    let device = Device::wgpu_options()
        .device_kind(kind)
        .init()
        .map_err(|err| CoreError::DeviceInit {
            device: name.to_string(),
            reason: err.to_string(),
        })?;
    *slot = Some(device.clone());
    Ok(device)
}

#[cfg(not(feature = "wgpu"))]
fn wgpu(_cpu: bool, name: &str) -> Result<Device> {
    Err(CoreError::BackendNotCompiled {
        device: name.to_string(),
        feature: "wgpu",
    })
}

#[cfg(feature = "tch")]
#[allow(deprecated)] // burn-tch is deprecated upstream; opt-in here as PyTorch's own kernels
fn tch(cuda: bool, name: &str) -> Result<Device> {
    if cuda {
        // LibTorch aborts the process on a CUDA call without a GPU: ask first.
        if !tch::Cuda::is_available() {
            return Err(CoreError::DeviceInit {
                device: name.to_string(),
                reason: "LibTorch sees no CUDA device (no NVIDIA GPU or driver, or a CPU-only \
                         PyTorch)"
                    .into(),
            });
        }
        Ok(Device::libtorch_cuda(0))
    } else {
        Ok(Device::libtorch())
    }
}

#[cfg(not(feature = "tch"))]
fn tch(_cuda: bool, name: &str) -> Result<Device> {
    Err(CoreError::BackendNotCompiled {
        device: name.to_string(),
        feature: "tch",
    })
}

/// Holds Burn's random generator for the calling thread until the guard drops.
///
/// Burn seeds per backend, not per call (`Device::seed` may be process-wide, and is on
/// `flex`): two threads that seed and then draw (initialise a layer, shuffle, drop out) take
/// each other's numbers, so a seeded fit is repeatable only while no other thread draws.
/// Code that runs seeded fits on several threads (parallel tests among them) holds this
/// guard around each one. A panic while it is held does not poison it for the others.
pub fn seed_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "flex")]
    #[test]
    fn seeded_draws_under_the_lock_are_the_same_on_every_thread() {
        use burn::tensor::{Distribution, Tensor};
        let draw = || {
            let dev = device("flex").unwrap();
            let _seeded = seed_lock();
            dev.seed(7);
            let a = Tensor::<1>::random([64], Distribution::Default, &dev);
            std::thread::yield_now();
            let b = Tensor::<1>::random([64], Distribution::Default, &dev);
            [a, b].map(|t| t.into_data().iter::<f32>().collect::<Vec<_>>())
        };
        let threads: Vec<_> = (0..8).map(|_| std::thread::spawn(draw)).collect();
        let first = draw();
        assert_ne!(first[0], first[1]);
        for t in threads {
            assert_eq!(t.join().unwrap(), first);
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_list() {
        let err = device("tpu").unwrap_err();
        assert!(matches!(err, CoreError::UnknownDevice(ref n) if n == "tpu"));
        assert!(err.to_string().contains("flex, ndarray, wgpu"));
    }

    #[test]
    fn asking_twice_gives_the_same_device() {
        for name in compiled_backends() {
            if name == "wgpu" {
                continue; // needs a GPU; `wgpu-cpu` is covered by CI's lavapipe run
            }
            let a = device(name).unwrap();
            assert_eq!(a, device(name).unwrap());
        }
    }

    #[test]
    fn a_backend_not_compiled_names_its_feature() {
        if !cfg!(feature = "ndarray") {
            let err = device("ndarray").unwrap_err();
            assert!(err.to_string().contains("--features ndarray"), "{err}");
        }
        if !cfg!(feature = "wgpu") {
            let err = device("wgpu").unwrap_err();
            assert!(err.to_string().contains("--features wgpu"), "{err}");
        }
    }
}
