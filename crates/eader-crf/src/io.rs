//! Reading and writing the CRF's inputs and outputs: `.npy` arrays (float32, also
//! float64 and uint8 on reading, C or Fortran order) and RGB images.

use std::path::Path;

use crate::error::{Error, Result};

/// An 8-bit RGB image, `(height, width, 3)` row-major: what [`crate::DenseCrf::bilateral`]
/// takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `(height, width, 3)` bytes.
    pub data: Vec<u8>,
}

/// Decodes an image file (JPEG, PNG) into RGB; other colour types are converted.
pub fn read_rgb(path: &Path) -> Result<RgbImage> {
    let image = image::open(path)
        .map_err(|source| Error::Image {
            path: path.to_path_buf(),
            source,
        })?
        .to_rgb8();
    Ok(RgbImage {
        width: image.width() as usize,
        height: image.height() as usize,
        data: image.into_raw(),
    })
}

/// The parsed header of a `.npy` file and its raw data.
struct Npy {
    descr: String,
    shape: Vec<usize>,
    fortran_order: bool,
    data: Vec<u8>,
}

fn npy_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Npy {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

fn read_npy(path: &Path) -> Result<Npy> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(npy_error(path, "no .npy magic"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(npy_error(path, format!("unsupported format version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| npy_error(path, "truncated header"))?;
    let descr =
        header_value(header, "descr").ok_or_else(|| npy_error(path, "header has no descr"))?;
    let fortran = header_value(header, "fortran_order")
        .ok_or_else(|| npy_error(path, "header has no fortran_order"))?;
    let shape =
        header_value(header, "shape").ok_or_else(|| npy_error(path, "header has no shape"))?;
    let shape: Vec<usize> = shape
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| npy_error(path, format!("bad shape entry {s:?}")))
        })
        .collect::<Result<_>>()?;
    Ok(Npy {
        descr: descr.trim_matches(|c| c == '\'' || c == '"').to_string(),
        shape,
        fortran_order: fortran == "True",
        data: bytes[start + header_len..].to_vec(),
    })
}

/// Reorders a Fortran-order (column-major) array into C order.
fn fortran_to_c<T: Copy + Default>(shape: &[usize], data: &[T]) -> Vec<T> {
    let mut out = vec![T::default(); data.len()];
    let mut index = vec![0usize; shape.len()];
    for value in out.iter_mut() {
        // Fortran offset of the current C multi-index.
        let mut offset = 0;
        let mut stride = 1;
        for (&i, &s) in index.iter().zip(shape) {
            offset += i * stride;
            stride *= s;
        }
        *value = data[offset];
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

fn decode<T: Copy + Default, const N: usize>(
    path: &Path,
    npy: &Npy,
    convert: impl Fn([u8; N]) -> T,
) -> Result<(Vec<usize>, Vec<T>)> {
    let count: usize = npy.shape.iter().product();
    if npy.data.len() != count * N {
        return Err(npy_error(
            path,
            format!(
                "shape {:?} needs {} data bytes, file has {}",
                npy.shape,
                count * N,
                npy.data.len()
            ),
        ));
    }
    let values: Vec<T> = npy
        .data
        .chunks_exact(N)
        .map(|c| convert(c.try_into().expect("chunk of N bytes")))
        .collect();
    let values = if npy.fortran_order && npy.shape.len() > 1 {
        fortran_to_c(&npy.shape, &values)
    } else {
        values
    };
    Ok((npy.shape.clone(), values))
}

/// Reads a `.npy` array of `float32` (or `float64`, converted) into its shape and its
/// values in C order (a Fortran-order file is reordered).
pub fn read_npy_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let npy = read_npy(path)?;
    match npy.descr.as_str() {
        "<f4" => decode(path, &npy, f32::from_le_bytes),
        "<f8" => decode(path, &npy, |b: [u8; 8]| f64::from_le_bytes(b) as f32),
        other => Err(npy_error(
            path,
            format!("dtype {other:?}, expected '<f4' or '<f8'"),
        )),
    }
}

/// Reads a `.npy` array of `uint8` (an RGB image `(H, W, 3)`, a label map) into its shape
/// and its values in C order.
pub fn read_npy_u8(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let npy = read_npy(path)?;
    match npy.descr.as_str() {
        "|u1" | "<u1" => decode(path, &npy, |b: [u8; 1]| b[0]),
        other => Err(npy_error(path, format!("dtype {other:?}, expected '|u1'"))),
    }
}

/// Writes `data` as a C-order `float32` `.npy` array (format 1.0) of `shape`.
///
/// # Panics
/// If `data.len()` is not the product of `shape`.
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "data does not fill the shape"
    );
    let dims: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + data.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips_and_reads_fortran_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        write_npy_f32(&path, &[2, 3, 4], &data).unwrap();
        assert_eq!(read_npy_f32(&path).unwrap(), (vec![2, 3, 4], data.clone()));

        // The same array written column-major, as numpy does for np.asfortranarray.
        let mut fortran = Vec::new();
        for k in 0..4 {
            for j in 0..3 {
                for i in 0..2 {
                    fortran.push(data[(i * 3 + j) * 4 + k]);
                }
            }
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let header_end = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = String::from_utf8(bytes[10..header_end].to_vec())
            .unwrap()
            .replace("False", "True ");
        bytes.splice(10..header_end, header.into_bytes());
        bytes.truncate(header_end);
        fortran
            .iter()
            .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read_npy_f32(&path).unwrap(), (vec![2, 3, 4], data));
    }

    #[test]
    fn bad_npy_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.npy");
        std::fs::write(&path, b"not numpy").unwrap();
        let err = read_npy_f32(&path).unwrap_err().to_string();
        assert!(err.contains("bad.npy"), "{err}");
        let missing = dir.path().join("missing.npy");
        assert!(read_npy_f32(&missing)
            .unwrap_err()
            .to_string()
            .contains("missing.npy"));
    }
}
