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

/// Whether a block's records can be split without a CSV parse: no quote
/// anywhere, and every carriage return followed by a line feed (a lone one
/// ends a record for the CSV reader). Then every line feed ends a record
/// and every comma ends a field, exactly as the CSV reader reads them.
pub(crate) fn is_plain(block: &[u8]) -> bool {
    memchr::memchr(b'"', block).is_none()
        && memchr::memchr_iter(b'\r', block).all(|i| block.get(i + 1) == Some(&b'\n'))
}

/// A record of a [plain](is_plain) block: its fields' ends in the block.
pub(crate) struct PlainRecord<'a> {
    pub(crate) block: &'a [u8],
    /// Where the record starts in the block.
    pub(crate) start: usize,
    /// Where each field ends (the comma after it, or the record's end).
    pub(crate) ends: &'a [usize],
}

impl PlainRecord<'_> {
    fn bounds(&self, i: usize) -> Option<(usize, usize)> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 {
            self.start
        } else {
            self.ends[i - 1] + 1
        };
        Some((start, end))
    }
}

impl crate::columnar::RawRecord for PlainRecord<'_> {
    fn raw(&self, i: usize) -> Option<&[u8]> {
        self.bounds(i).map(|(s, e)| &self.block[s..e])
    }
    fn raw_span(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.bounds(i)
            .map(|(s, e)| (&self.block[s..e], &self.block[s..]))
    }
    fn width(&self) -> usize {
        self.ends.len()
    }
    fn unread_blank(&self, _read: &[bool]) -> bool {
        true
    }
}

/// Splits a [plain](is_plain) block into records as the CSV reader would:
/// a record per line (a carriage return before the line feed dropped),
/// empty lines skipped, a field per comma. Fills `ends` with every field's
/// end and `records` with each record's (start, its fields in `ends`).
pub(crate) fn split_plain(
    block: &[u8],
    ends: &mut Vec<usize>,
    records: &mut Vec<(usize, std::ops::Range<usize>)>,
) {
    ends.clear();
    records.clear();
    let mut at = 0;
    while at < block.len() {
        let feed = memchr::memchr(b'\n', &block[at..]).map_or(block.len(), |p| at + p);
        let mut end = feed;
        if end > at && block[end - 1] == b'\r' {
            end -= 1;
        }
        if end > at {
            let first = ends.len();
            ends.extend(memchr::memchr_iter(b',', &block[at..end]).map(|c| at + c));
            ends.push(end);
            records.push((at, first..ends.len()));
        }
        at = feed + 1;
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

    #[test]
    fn plain_blocks_split_as_the_csv_reader_reads_them() {
        use crate::columnar::RawRecord;
        // Deterministic pseudo-random quote-free text: fields of letters,
        // spaces, empty ones; LF and CRLF endings; blank lines; a last line
        // with and without its terminator.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for case in 0..300 {
            let mut text = Vec::new();
            for _ in 0..next(30) {
                match next(8) {
                    0 => text.extend_from_slice(b"\n"),
                    1 => text.extend_from_slice(b"\r\n"),
                    _ => {
                        for f in 0..=next(6) {
                            if f > 0 {
                                text.push(b',');
                            }
                            for _ in 0..next(5) {
                                text.push([b'a', b' ', b'7', b'-', b'\t'][next(5) as usize]);
                            }
                        }
                        text.extend_from_slice(if next(2) == 0 { b"\n" } else { b"\r\n" });
                    }
                }
            }
            if case % 2 == 0 {
                text.extend_from_slice(b"last,line");
            }
            assert!(is_plain(&text));
            let whole: Vec<Vec<Vec<u8>>> = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(&text[..])
                .byte_records()
                .map(|r| r.unwrap().iter().map(|f| f.to_vec()).collect())
                .collect();
            let (mut ends, mut records) = (Vec::new(), Vec::new());
            split_plain(&text, &mut ends, &mut records);
            let plain: Vec<Vec<Vec<u8>>> = records
                .iter()
                .map(|(start, r)| {
                    let rec = PlainRecord {
                        block: &text,
                        start: *start,
                        ends: &ends[r.clone()],
                    };
                    (0..rec.width())
                        .map(|i| rec.raw(i).unwrap().to_vec())
                        .collect()
                })
                .collect();
            assert_eq!(
                whole,
                plain,
                "case {case}: {:?}",
                String::from_utf8_lossy(&text)
            );
        }
        assert!(
            !is_plain(b"a,b\rc,d\n"),
            "a lone carriage return ends a record"
        );
        assert!(!is_plain(b"a,\"b\"\n"));
    }
}
