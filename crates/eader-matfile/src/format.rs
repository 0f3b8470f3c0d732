//! Constants of the MATLAB v5 MAT-file format (MathWorks, "MAT-File Format",
//! version 5 and 7): data types of elements and classes of arrays.

/// Length of the file header: 116 bytes of text, 8 bytes of subsystem data
/// offset, a 2-byte version and the 2-byte endian indicator.
pub(crate) const HEADER_LEN: usize = 128;
/// The version field of a v5/v7 file.
pub(crate) const VERSION_5: u16 = 0x0100;
/// The version field of a v7.3 (HDF5) file.
pub(crate) const VERSION_73: u16 = 0x0200;

/// Data types of data elements (`mi*` in MATLAB's documentation).
pub(crate) mod mi {
    pub const INT8: u32 = 1;
    pub const UINT8: u32 = 2;
    pub const INT16: u32 = 3;
    pub const UINT16: u32 = 4;
    pub const INT32: u32 = 5;
    pub const UINT32: u32 = 6;
    pub const SINGLE: u32 = 7;
    pub const DOUBLE: u32 = 9;
    pub const INT64: u32 = 12;
    pub const UINT64: u32 = 13;
    pub const MATRIX: u32 = 14;
    pub const COMPRESSED: u32 = 15;
    pub const UTF8: u32 = 16;
    pub const UTF16: u32 = 17;
    pub const UTF32: u32 = 18;
}

/// Array classes (`mx*_CLASS`), the low byte of the array flags.
pub(crate) mod mx {
    pub const CELL: u8 = 1;
    pub const STRUCT: u8 = 2;
    pub const OBJECT: u8 = 3;
    pub const CHAR: u8 = 4;
    pub const SPARSE: u8 = 5;
    pub const DOUBLE: u8 = 6;
    pub const SINGLE: u8 = 7;
    pub const INT8: u8 = 8;
    pub const UINT8: u8 = 9;
    pub const INT16: u8 = 10;
    pub const UINT16: u8 = 11;
    pub const INT32: u8 = 12;
    pub const UINT32: u8 = 13;
    pub const INT64: u8 = 14;
    pub const UINT64: u8 = 15;
}

/// Bits of the second byte of the array flags.
pub(crate) mod flag {
    pub const COMPLEX: u32 = 0x0800;
    pub const GLOBAL: u32 = 0x0400;
    pub const LOGICAL: u32 = 0x0200;
}

/// A readable name for a data type, for error messages.
pub(crate) fn data_type_name(data_type: u32) -> String {
    let name = match data_type {
        mi::INT8 => "miINT8",
        mi::UINT8 => "miUINT8",
        mi::INT16 => "miINT16",
        mi::UINT16 => "miUINT16",
        mi::INT32 => "miINT32",
        mi::UINT32 => "miUINT32",
        mi::SINGLE => "miSINGLE",
        mi::DOUBLE => "miDOUBLE",
        mi::INT64 => "miINT64",
        mi::UINT64 => "miUINT64",
        mi::MATRIX => "miMATRIX",
        mi::COMPRESSED => "miCOMPRESSED",
        mi::UTF8 => "miUTF8",
        mi::UTF16 => "miUTF16",
        mi::UTF32 => "miUTF32",
        other => return format!("unknown data type {other}"),
    };
    name.to_owned()
}
