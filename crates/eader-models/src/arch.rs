//! The architectures eader can build, named as the reference names them.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A network architecture. `FromStr` and `Display` use the reference
/// implementation's names (`resnet101deeplab`, `deeplab_largefov`, …); a few
/// aliases (`wide_resnet50_2`, `resnet101_dilated`, `vgg16_largefov`) parse too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Architecture {
    /// ResNet-18 (basic blocks 2-2-2-2), 512 feature channels.
    Resnet18,
    /// ResNet-34 (basic blocks 3-4-6-3), 512 feature channels.
    Resnet34,
    /// ResNet-50 (bottlenecks 3-4-6-3), 2048 feature channels.
    Resnet50,
    /// ResNet-101 (bottlenecks 3-4-23-3), 2048 feature channels.
    Resnet101,
    /// ResNet-152 (bottlenecks 3-8-36-3), 2048 feature channels.
    Resnet152,
    /// Wide-ResNet-50-2 (bottlenecks twice as wide), 2048 feature channels.
    WideResnet50,
    /// ResNet-101 whose layer3 and layer4 use dilation 2 and 4 instead of
    /// stride (torchvision `replace_stride_with_dilation=[False, True, True]`):
    /// output stride 8.
    Resnet101Deeplab,
    /// VGG-16 (configuration D) with its MLP classifier (two hidden layers of 4096).
    Vgg16,
    /// The DeepLab-v1 VGG-16 LargeFOV trunk: 3x3 pools with padding, the last
    /// two with stride 1, conv5 with dilation 2 (output stride 8), then global
    /// average pooling and a linear head.
    DeeplabLargefov,
}

impl Architecture {
    /// Every architecture, in the order of [`Architecture::NAMES`].
    pub const ALL: [Architecture; 9] = [
        Architecture::Resnet18,
        Architecture::Resnet34,
        Architecture::Resnet50,
        Architecture::Resnet101,
        Architecture::Resnet152,
        Architecture::WideResnet50,
        Architecture::Resnet101Deeplab,
        Architecture::Vgg16,
        Architecture::DeeplabLargefov,
    ];

    /// The canonical names, as the reference spells them.
    pub const NAMES: [&'static str; 9] = [
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        "wide_resnet50",
        "resnet101deeplab",
        "vgg16",
        "deeplab_largefov",
    ];

    /// The canonical name (the reference's).
    pub fn name(self) -> &'static str {
        let idx = Self::ALL.iter().position(|a| *a == self).unwrap_or(0);
        Self::NAMES[idx]
    }

    /// Number of channels of the last convolutional stage (the features).
    pub fn feature_channels(self) -> usize {
        match self {
            Architecture::Resnet18 | Architecture::Resnet34 => 512,
            Architecture::Vgg16 | Architecture::DeeplabLargefov => 512,
            _ => 2048,
        }
    }

    /// Total stride from the image to the features (32, or 8 for the dilated
    /// ResNet-101 and LargeFOV). Output sizes follow PyTorch's rounding, so a
    /// side that is not a multiple of the stride gives `ceil`-like sizes.
    pub fn output_stride(self) -> usize {
        match self {
            Architecture::Resnet101Deeplab | Architecture::DeeplabLargefov => 8,
            _ => 32,
        }
    }

    /// The torchvision name of the head's final weight `(classes, channels)`:
    /// its rows are the number of classes of a saved network.
    pub fn head_weight_name(self) -> &'static str {
        match self {
            Architecture::Vgg16 => "classifier.6.weight",
            Architecture::DeeplabLargefov => "classifier.weight",
            _ => "fc.weight",
        }
    }

    /// Whether the architecture is a ResNet (with BatchNorm).
    pub fn is_resnet(self) -> bool {
        !matches!(self, Architecture::Vgg16 | Architecture::DeeplabLargefov)
    }

    /// The Hugging Face Hub repository holding the original torchvision
    /// ImageNet weights for the trunk (`timm/<name>.tv_in1k`). The dilated
    /// ResNet-101 uses ResNet-101's weights and LargeFOV uses VGG-16's, as the
    /// reference does.
    pub fn hub_repo(self) -> &'static str {
        match self {
            Architecture::Resnet18 => "timm/resnet18.tv_in1k",
            Architecture::Resnet34 => "timm/resnet34.tv_in1k",
            Architecture::Resnet50 => "timm/resnet50.tv_in1k",
            Architecture::Resnet101 | Architecture::Resnet101Deeplab => "timm/resnet101.tv_in1k",
            Architecture::Resnet152 => "timm/resnet152.tv_in1k",
            Architecture::WideResnet50 => "timm/wide_resnet50_2.tv_in1k",
            Architecture::Vgg16 | Architecture::DeeplabLargefov => "timm/vgg16.tv_in1k",
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Architecture {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let alias = match lower.as_str() {
            "wide_resnet50_2" => Some(Architecture::WideResnet50),
            "resnet101_dilated" => Some(Architecture::Resnet101Deeplab),
            "vgg16_largefov" => Some(Architecture::DeeplabLargefov),
            _ => None,
        };
        if let Some(arch) = alias {
            return Ok(arch);
        }
        Self::NAMES
            .iter()
            .position(|n| *n == lower)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| Error::UnknownArchitecture {
                name: s.to_string(),
                valid: format!(
                    "{} (aliases: wide_resnet50_2, resnet101_dilated, vgg16_largefov)",
                    Self::NAMES.join(", ")
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for arch in Architecture::ALL {
            let parsed: Architecture = arch.to_string().parse().unwrap();
            assert_eq!(parsed, arch);
        }
    }

    #[test]
    fn aliases_parse() {
        assert_eq!(
            "wide_resnet50_2".parse::<Architecture>().unwrap(),
            Architecture::WideResnet50
        );
        assert_eq!(
            "resnet101_dilated".parse::<Architecture>().unwrap(),
            Architecture::Resnet101Deeplab
        );
        assert_eq!(
            "vgg16_largefov".parse::<Architecture>().unwrap(),
            Architecture::DeeplabLargefov
        );
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = "resnet19".parse::<Architecture>().unwrap_err().to_string();
        assert!(err.contains("resnet19"), "{err}");
        for name in Architecture::NAMES {
            assert!(err.contains(name), "{err} lacks {name}");
        }
    }
}
