//! The payload sources of the compression cases (12.*, 13.*). Autobahn ships five files
//! (a JSON document, a bitmap, Goethe's Faust, an HTML page, a PDF; 2 MB together); duplex
//! generates stand-ins of the same kinds and sizes from a fixed seed, so the binary stays
//! small and every run sends the same bytes. `--testdata DIR` uses Autobahn's own files
//! (`autobahntestsuite/testdata/`) instead, for byte-identical payloads.

use std::path::Path;

use bytes::Bytes;

use super::catalogue::TestData;

/// One payload source, cut into messages as Autobahn's `sendOne` cuts it: `len` units from
/// where the last message ended, wrapping around. Text sources count characters, binary
/// sources bytes.
#[derive(Debug)]
pub(crate) struct TestPayloads {
    bytes: Bytes,
    /// Byte offset of each unit, plus the end: characters for text, every byte for binary.
    units: Option<Vec<usize>>,
}

impl TestPayloads {
    fn new(bytes: Vec<u8>, text: bool) -> Self {
        let units = text.then(|| {
            let text = String::from_utf8_lossy(&bytes);
            let mut offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            offsets.push(text.len());
            offsets
        });
        let bytes = if text {
            Bytes::from(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            Bytes::from(bytes)
        };
        Self { bytes, units }
    }

    fn unit_count(&self) -> usize {
        self.units
            .as_ref()
            .map_or(self.bytes.len(), |units| units.len() - 1)
    }

    fn offset(&self, unit: usize) -> usize {
        self.units.as_ref().map_or(unit, |units| units[unit])
    }

    /// The message of `len` units starting at unit `from`, and where the next one starts.
    pub(crate) fn slice(&self, from: usize, len: usize) -> (Bytes, usize) {
        let count = self.unit_count();
        if len == 0 || count == 0 {
            return (Bytes::new(), from);
        }
        let from = from % count;
        let to = (from + len) % count;
        let message = if to > from {
            self.bytes.slice(self.offset(from)..self.offset(to))
        } else {
            let mut joined = self.bytes[self.offset(from)..].to_vec();
            joined.extend_from_slice(&self.bytes[..self.offset(to)]);
            Bytes::from(joined)
        };
        (message, to)
    }
}

/// The payload source for `which`: Autobahn's file from `dir` if given and readable, else
/// the generated stand-in.
pub(crate) fn load(which: TestData, dir: Option<&Path>) -> TestPayloads {
    let (file, text) = match which {
        TestData::JsonData1 => ("data1.json", true),
        TestData::Lena512 => ("lena512.bmp", false),
        TestData::GutenbergFaust => ("pg2229.txt", false),
        TestData::HtmlData1 => ("data1.html", true),
        TestData::Ooms => ("10.1.1.105.5439.pdf", false),
    };
    if let Some(bytes) = dir.and_then(|dir| std::fs::read(dir.join(file)).ok()) {
        return TestPayloads::new(bytes, text);
    }
    TestPayloads::new(generate(which), text)
}

/// A small deterministic generator (xorshift64*): the same bytes on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Syllables the generated words are made of; some not ASCII, so text exercises UTF-8.
const SYLLABLES: &[&str] = &[
    "ge", "ist", "wel", "t", "fau", "st", "me", "phi", "sto", "gre", "tchen", "him", "mel", "er",
    "de", "nacht", "ü", "ber", "schö", "n", "grö", "ße", "mä", "dchen", "trä", "ume", "da", "ta",
    "va", "lue", "ser", "ver", "cli", "ent", "fra", "me", "win", "dow", "ça", "se", "ñor", "ö",
    "l", "ä", "rger", "na", "ïve", "ca", "fé", "zo", "ë", "東", "京", "€",
];

/// A vocabulary of natural-text size, drawn with a skew (a few words are frequent, most
/// rare), so the stand-ins compress like prose and JSON rather than like a short word list
/// repeated, which makes zlib's matching far slower than real data does.
struct Words(Vec<String>);

impl Words {
    fn new(rng: &mut Rng) -> Self {
        let words = (0..4000)
            .map(|_| {
                let syllables = 1 + rng.below(4);
                (0..syllables).map(|_| rng.pick(SYLLABLES)).collect()
            })
            .collect();
        Self(words)
    }

    fn pick<'a>(&'a self, rng: &mut Rng) -> &'a str {
        // The product of two uniform draws favours small indexes: a Zipf-like skew.
        let i = rng.below(self.0.len()) * rng.below(self.0.len()) / self.0.len();
        &self.0[i]
    }

    fn sentence(&self, rng: &mut Rng, words: usize) -> String {
        (0..words)
            .map(|_| self.pick(rng))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn generate(which: TestData) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ which as u64);
    let words = Words::new(&mut rng);
    let mut out = String::new();
    match which {
        TestData::JsonData1 => {
            out.push('[');
            let mut id = 0;
            while out.len() < 194_000 {
                if id > 0 {
                    out.push_str(",\n");
                }
                let count = 3 + rng.below(12);
                out.push_str(&format!(
                    "{{\"id\": {id}, \"name\": \"{}\", \"score\": {}.{}, \"active\": {}, \"tags\": [\"{}\", \"{}\"], \"text\": \"{}\"}}",
                    words.pick(&mut rng),
                    rng.below(1000),
                    rng.below(100),
                    rng.below(2) == 1,
                    words.pick(&mut rng),
                    words.pick(&mut rng),
                    words.sentence(&mut rng, count)
                ));
                id += 1;
            }
            out.push(']');
            out.into_bytes()
        }
        TestData::HtmlData1 => {
            out.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>data1</title></head><body>\n");
            while out.len() < 263_000 {
                let count = 8 + rng.below(40);
                let tag = ["p", "li", "td", "h2", "span"][rng.below(5)];
                out.push_str(&format!(
                    "<{tag} class=\"c{}\">{}</{tag}>\n",
                    rng.below(20),
                    words.sentence(&mut rng, count)
                ));
            }
            out.push_str("</body></html>\n");
            out.into_bytes()
        }
        TestData::GutenbergFaust => {
            while out.len() < 222_000 {
                let count = 4 + rng.below(10);
                out.push_str(&words.sentence(&mut rng, count));
                out.push_str(if rng.below(4) == 0 {
                    ".\r\n\r\n"
                } else {
                    ",\r\n"
                });
            }
            out.into_bytes()
        }
        TestData::Lena512 => {
            // A 512x512 8-bit grey bitmap: smooth gradients with noise, as a photo would be.
            let mut bytes = b"BM".to_vec();
            bytes.resize(1078, 0);
            for i in 0..256 {
                let v = i as u8;
                bytes[54 + i * 4..54 + i * 4 + 3].copy_from_slice(&[v, v, v]);
            }
            for y in 0..512usize {
                for x in 0..512usize {
                    let base = ((x * 3 + y * 5) / 8 + (x * y) / 2048) % 256;
                    let noise = rng.below(9);
                    bytes.push(((base + noise) % 256) as u8);
                }
            }
            bytes.truncate(263_222);
            bytes
        }
        TestData::Ooms => {
            // A PDF's mix: text objects and incompressible streams.
            let mut bytes = b"%PDF-1.4\n".to_vec();
            while bytes.len() < 1_042_000 {
                if rng.below(3) == 0 {
                    let count = 20 + rng.below(60);
                    bytes.extend_from_slice(
                        format!(
                            "{} 0 obj\n({})\nendobj\n",
                            rng.below(9999),
                            words.sentence(&mut rng, count)
                        )
                        .as_bytes(),
                    );
                } else {
                    bytes.extend_from_slice(b"stream\n");
                    for _ in 0..(256 + rng.below(2048)) {
                        bytes.push(rng.next() as u8);
                    }
                    bytes.extend_from_slice(b"\nendstream\n");
                }
            }
            bytes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_in_characters_and_wraps_around() {
        let data = TestPayloads::new("aé東b".as_bytes().to_vec(), true);
        let (first, next) = data.slice(0, 3);
        assert_eq!(&first[..], "aé東".as_bytes());
        let (second, next) = data.slice(next, 3);
        assert_eq!(&second[..], "baé".as_bytes());
        assert_eq!(next, 2);
    }

    #[test]
    fn generated_sources_have_the_originals_sizes_and_are_valid_text() {
        let json = load(TestData::JsonData1, None);
        assert!(json.unit_count() > 131_072);
        assert!(std::str::from_utf8(&json.bytes).is_ok());
        assert!(load(TestData::Ooms, None).unit_count() > 1_000_000);
        assert_eq!(load(TestData::Lena512, None).unit_count(), 263_222);
    }
}
