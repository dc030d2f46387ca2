//! A CSV file's data as blocks of bytes that each end on a record
//! boundary, so that splitting records (the CSV parse proper) runs on the
//! conversion workers, one block each, instead of on the one thread that
//! reads the file.
//!
//! Where a block holds no quote character every line feed ends a record,
//! and the block is cut after its last one (the file is read on while one
//! record is longer than a block). Where it holds a quote, a line
//! feed may sit inside a quoted field, so the records are found by a CSV
//! parse of the block (csv-core's, the same rules the workers' reader
//! applies), and the block is cut after the last whole record. Either way
//! the next block starts at a record's start, as a reader of the whole
//! file would have seen it.

use std::io::Read;

/// Reads a CSV file's data (after its header) as blocks of whole records.
pub(crate) struct Blocks<R> {
    input: R,
    /// The bytes read past the last block's end: the next block's start.
    carry: Vec<u8>,
    eof: bool,
    scan: csv_core::Reader,
    scratch: Vec<u8>,
}

impl<R: Read> Blocks<R> {
    /// Blocks of `input`, which starts at a record's start.
    pub(crate) fn new(input: R) -> Self {
        Blocks {
            input,
            carry: Vec::new(),
            eof: false,
            scan: csv_core::Reader::new(),
            scratch: vec![0; 4096],
        }
    }

    /// Fills `buf` (its old bytes dropped, its memory reused) with the next
    /// block: about `size` bytes, more when one record is longer, ending
    /// after a record's terminator, or at the end of the input. False at
    /// the end of the input.
    pub(crate) fn next_into(&mut self, size: usize, buf: &mut Vec<u8>) -> std::io::Result<bool> {
        buf.clear();
        buf.append(&mut self.carry);
        let mut want = size.max(1);
        loop {
            while buf.len() < want && !self.eof {
                let start = buf.len();
                buf.resize(want, 0);
                let n = loop {
                    match self.input.read(&mut buf[start..]) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                let n = n.inspect_err(|_| buf.truncate(start))?;
                buf.truncate(start + n);
                self.eof = n == 0;
            }
            if self.eof {
                return Ok(!buf.is_empty());
            }
            if let Some(cut) = self.boundary(buf) {
                self.carry.extend_from_slice(&buf[cut..]);
                buf.truncate(cut);
                return Ok(true);
            }
            // One record longer than the block: read on.
            want = buf.len() * 2;
        }
    }

    /// Where the last whole record in `bytes` ends, if one does.
    fn boundary(&mut self, bytes: &[u8]) -> Option<usize> {
        // (A file whose lines end in a carriage return alone has no line
        // feed: the parse below finds its records.)
        if memchr::memchr(b'"', bytes).is_none()
            && let Some(p) = memchr::memrchr(b'\n', bytes)
        {
            return Some(p + 1);
        }
        self.scan.reset();
        let (mut at, mut last) = (0, None);
        // (Never an empty input: csv-core reads that as the end of the
        // file, which ends the record it is in.)
        while at < bytes.len() {
            let (res, nin, _) = self.scan.read_field(&bytes[at..], &mut self.scratch);
            at += nin;
            match res {
                csv_core::ReadFieldResult::InputEmpty | csv_core::ReadFieldResult::End => {
                    return last;
                }
                // A field longer than the scratch buffer: its bytes are not
                // needed, only where it ends.
                csv_core::ReadFieldResult::OutputFull => {}
                csv_core::ReadFieldResult::Field { record_end } => {
                    if record_end {
                        last = Some(at);
                    }
                }
            }
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The records of `data` read whole, and read block by block.
    fn both(data: &[u8], size: usize) -> (Vec<csv::ByteRecord>, Vec<csv::ByteRecord>) {
        let read = |bytes: &[u8]| -> Vec<csv::ByteRecord> {
            csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(bytes)
                .byte_records()
                .map(|r| r.unwrap())
                .collect()
        };
        let whole = read(data);
        let mut blocks = Blocks::new(data);
        let mut buf = Vec::new();
        let mut parts = Vec::new();
        while blocks.next_into(size, &mut buf).unwrap() {
            parts.extend(read(&buf));
        }
        (whole, parts)
    }

    #[test]
    fn blocks_cut_only_between_records() {
        let data: &[u8] = b"1,a,x\n2,\"line\nbreak, and \"\"quote\"\"\",y\r\n3,b,z\n\n4,\"\",\n5,c";
        for size in 1..data.len() + 2 {
            let (whole, parts) = both(data, size);
            assert_eq!(whole.len(), 5);
            assert_eq!(whole, parts, "block size {size}");
        }
        // Lines ended by a carriage return alone (Excel for Mac's old CSV).
        let mac: &[u8] = b"1,a\r2,b\r3,c\r";
        for size in 1..mac.len() + 2 {
            let (whole, parts) = both(mac, size);
            assert_eq!(whole.len(), 3);
            assert_eq!(whole, parts, "block size {size}");
        }
    }

    #[test]
    fn unquoted_blocks_cut_at_line_feeds_and_long_records_grow_the_block() {
        let mut data = Vec::new();
        for i in 0..1000 {
            data.extend_from_slice(format!("{i},{}\n", "v".repeat(i % 97)).as_bytes());
        }
        for size in [1, 7, 64, 4096] {
            let (whole, parts) = both(&data, size);
            assert_eq!(whole.len(), 1000);
            assert_eq!(whole, parts, "block size {size}");
        }
    }
}
