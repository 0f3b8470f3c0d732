//! `--device` to a candle device (until eader-train's device module lands).

use eader_train::DeviceChoice;

use candle::Device;

/// The device `choice` names; CUDA needs a build with `--features cuda`.
pub fn resolve(choice: DeviceChoice) -> anyhow::Result<Device> {
    match choice {
        DeviceChoice::Auto | DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda(n) => anyhow::bail!(
            "--device cuda:{n}: this eader was built without CUDA; rebuild with --features cuda (see README, \"GPU\")"
        ),
    }
}

/// A short description of `device` for logs.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => format!("cpu ({} threads)", rayon::current_num_threads()),
        other => format!("{other:?}"),
    }
}
