//! The GPU probe: NVIDIA devices through NVML, loaded at run time
//! (`libnvidia-ml.so.1` via `nvml-wrapper`, which uses `libloading`), so
//! the binary builds and runs where there is no CUDA and no driver. Where
//! NVML cannot be loaded or initialised the reading says "unavailable" and
//! why; that is a fact about the host, not an error of the run.

use crate::{Probe, ProbeError};
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::Nvml;
pub use scalewall_model::health::{GpuDevice, GpuReading};

/// Samples every NVIDIA GPU of the host.
pub struct GpuProbe {
    nvml: Result<Nvml, String>,
}

impl std::fmt::Debug for GpuProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuProbe")
            .field("available", &self.nvml.is_ok())
            .finish()
    }
}

impl Default for GpuProbe {
    fn default() -> Self {
        GpuProbe::new()
    }
}

impl GpuProbe {
    /// Loads and initialises NVML once; failure is remembered, not raised.
    pub fn new() -> GpuProbe {
        GpuProbe {
            nvml: Nvml::init().map_err(|e| format!("NVML not loaded ({e})")),
        }
    }

    fn device(nvml: &Nvml, index: u32) -> Result<GpuDevice, String> {
        let device = nvml
            .device_by_index(index)
            .map_err(|e| format!("GPU {index}: {e}"))?;
        let memory = device
            .memory_info()
            .map_err(|e| format!("GPU {index} memory: {e}"))?;
        let utilization = device.utilization_rates().ok();
        Ok(GpuDevice {
            index,
            name: device.name().unwrap_or_else(|_| "unknown".into()),
            memory_used_bytes: memory.used,
            memory_total_bytes: memory.total,
            memory_used_pct: crate::percent(memory.used as f64, memory.total as f64),
            utilization_pct: utilization.as_ref().map(|u| u.gpu),
            memory_utilization_pct: utilization.as_ref().map(|u| u.memory),
            temperature_c: device.temperature(TemperatureSensor::Gpu).ok(),
        })
    }
}

impl Probe for GpuProbe {
    type Reading = GpuReading;

    /// Never fails: no NVML, or a device that cannot be read, is said in
    /// the reading.
    fn sample(&mut self) -> Result<GpuReading, ProbeError> {
        let nvml = match &self.nvml {
            Ok(nvml) => nvml,
            Err(detail) => return Ok(GpuReading::unavailable(detail.clone())),
        };
        let count = match nvml.device_count() {
            Ok(count) => count,
            Err(e) => return Ok(GpuReading::unavailable(format!("NVML device count: {e}"))),
        };
        let mut devices = Vec::new();
        for index in 0..count {
            match GpuProbe::device(nvml, index) {
                Ok(device) => devices.push(device),
                Err(detail) => return Ok(GpuReading::unavailable(detail)),
            }
        }
        Ok(GpuReading {
            available: true,
            detail: None,
            driver_version: nvml.sys_driver_version().ok(),
            devices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_without_nvml_reads_unavailable_not_an_error() {
        let have_nvml = std::path::Path::new("/proc/driver/nvidia/version").exists();
        let reading = GpuProbe::new().sample().expect("the GPU probe never fails");
        if have_nvml {
            assert!(reading.available, "{reading:?}");
            for device in &reading.devices {
                assert!(device.memory_total_bytes > 0);
                assert!(device.memory_used_bytes <= device.memory_total_bytes);
            }
        } else {
            assert!(!reading.available);
            assert!(reading.devices.is_empty());
            assert!(reading.detail.unwrap().contains("NVML"));
        }
    }
}
