//! Model-file bytes from disk without reading them into a copy: the file is memory-mapped
//! while it is decoded, so loading a multi-GB model needs its decoded tensors in memory once
//! (plus page-cache pages the kernel can drop). The mapping is dropped right after decoding;
//! `reco serve` streams `GET /models/{file}` from the file itself (`serve::state::ServedFile`).
//!
//! A mapped file must not be rewritten in place while it is mapped (a shorter file would make
//! reads of the cut part fault). reco never does: every model file it writes is written beside
//! and renamed over the old one (`model_file::write_atomic`), which leaves the mapped file
//! untouched until the mapping is dropped. The README asks the same of users who copy files
//! into a served folder (`cp` to a temporary name, then `mv`).
use std::path::Path;

/// The bytes of a model file: a read-only memory map (empty files are read, not mapped).
pub struct ModelBytes(Inner);

enum Inner {
    Map(memmap2::Mmap),
    Empty,
}

impl ModelBytes {
    /// Maps `path` read-only (an empty file gives empty bytes; a folder is an error).
    pub fn open(path: &Path) -> std::io::Result<ModelBytes> {
        Self::map(&std::fs::File::open(path)?)
    }

    /// Maps an open file read-only (the same rules as [`ModelBytes::open`]).
    pub fn map(file: &std::fs::File) -> std::io::Result<ModelBytes> {
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        if meta.len() == 0 {
            return Ok(ModelBytes(Inner::Empty));
        }
        // SAFETY: the map is read-only and private, and model files are only ever replaced by
        // rename (see the module docs), never changed in place while mapped.
        let map = unsafe { memmap2::MmapOptions::new().map(file)? };
        Ok(ModelBytes(Inner::Map(map)))
    }
}

impl std::ops::Deref for ModelBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Inner::Map(map) => map,
            Inner::Empty => &[],
        }
    }
}

impl AsRef<[u8]> for ModelBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_files_and_refuses_folders() {
        let dir = std::env::temp_dir().join(format!("reco-model-bytes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m.safetensors");
        std::fs::write(&file, b"model bytes").unwrap();
        let bytes = ModelBytes::open(&file).unwrap();
        assert_eq!(&*bytes, b"model bytes");
        // Replaced by rename (as reco writes): the mapping keeps the old contents.
        std::fs::write(dir.join("new"), b"other").unwrap();
        std::fs::rename(dir.join("new"), &file).unwrap();
        assert_eq!(&*bytes, b"model bytes");
        std::fs::write(dir.join("empty"), b"").unwrap();
        assert!(ModelBytes::open(&dir.join("empty")).unwrap().is_empty());
        assert_eq!(
            ModelBytes::open(&dir).err().map(|e| e.kind()),
            Some(std::io::ErrorKind::IsADirectory)
        );
        assert_eq!(
            ModelBytes::open(&dir.join("missing")).err().map(|e| e.kind()),
            Some(std::io::ErrorKind::NotFound)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
