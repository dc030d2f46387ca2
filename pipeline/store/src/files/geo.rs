//! GeoParquet: the `geo` file metadata of a dataset with a geometry column
//! (a contract column of type `geometry`, stored as WKB in an Arrow
//! `Binary` field marked with the GeoArrow extension name
//! `geoarrow.wkb`). While the file is written, each geometry's type and
//! coordinates are read from its WKB, so the metadata states the types
//! present and the bounding box, as GeoParquet 1.1 describes them; the CRS
//! is left out, which GeoParquet reads as OGC:CRS84 (longitude/latitude on
//! WGS 84), what GeoJSON sources hold.
//!
//! Such a file is written without the embedded Arrow schema
//! (`ARROW:schema`): with it, pyarrow restores the schema's own metadata
//! and ignores the file's, so GeoPandas (which reads `geo` from pyarrow's
//! schema metadata) would find none. Without it pyarrow takes the file's
//! key-value metadata, `geo` included; the cost is that its categorical
//! text columns read back as plain text.

use std::collections::BTreeSet;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema};

pub use eqpipe_plugin_sdk::contract::{EXTENSION_KEY, WKB_EXTENSION};

/// GeoParquet's file metadata key.
pub const GEO_KEY: &str = "geo";

/// The geometry columns of a file being written, and what they have held.
#[derive(Debug)]
pub(crate) struct GeoColumns {
    columns: Vec<Column>,
}

#[derive(Debug)]
struct Column {
    index: usize,
    name: String,
    types: BTreeSet<String>,
    bbox: [f64; 4],
    /// A value that is not readable WKB was seen: the types are unknown.
    unreadable: bool,
}

impl GeoColumns {
    /// The schema's geometry columns; `None` when it has none.
    pub(crate) fn of(schema: &Schema) -> Option<GeoColumns> {
        let columns: Vec<Column> = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                matches!(f.data_type(), DataType::Binary | DataType::LargeBinary)
                    && f.metadata().get(EXTENSION_KEY).map(String::as_str) == Some(WKB_EXTENSION)
            })
            .map(|(index, f)| Column {
                index,
                name: f.name().clone(),
                types: BTreeSet::new(),
                bbox: [f64::MAX, f64::MAX, f64::MIN, f64::MIN],
                unreadable: false,
            })
            .collect();
        (!columns.is_empty()).then_some(GeoColumns { columns })
    }

    /// Reads the geometries of a batch about to be written.
    pub(crate) fn observe(&mut self, batch: &RecordBatch) {
        for c in &mut self.columns {
            let Some(a) = batch.column(c.index).as_binary_opt::<i32>() else {
                continue;
            };
            for i in 0..a.len() {
                if a.is_null(i) {
                    continue;
                }
                let mut r = Wkb {
                    b: a.value(i),
                    at: 0,
                };
                let bbox = &mut c.bbox;
                let mut visit = |_: bool, x: f64, y: f64| {
                    *bbox = [
                        bbox[0].min(x),
                        bbox[1].min(y),
                        bbox[2].max(x),
                        bbox[3].max(y),
                    ];
                };
                match r.geometry(&mut visit, 0) {
                    Some(t) => {
                        c.types.insert(t);
                    }
                    None => c.unreadable = true,
                }
            }
        }
    }

    /// The `geo` metadata (key and JSON value) for what was written.
    pub(crate) fn metadata(&self) -> (String, String) {
        let mut columns = serde_json::Map::new();
        for c in &self.columns {
            let mut m = serde_json::Map::new();
            m.insert("encoding".into(), "WKB".into());
            let types: Vec<String> = if c.unreadable {
                Vec::new()
            } else {
                c.types.iter().cloned().collect()
            };
            m.insert("geometry_types".into(), types.into());
            if c.bbox[0] <= c.bbox[2] && !c.unreadable {
                m.insert("bbox".into(), c.bbox.to_vec().into());
            }
            columns.insert(c.name.clone(), m.into());
        }
        let geo = serde_json::json!({
            "version": "1.1.0",
            "primary_column": self.columns[0].name,
            "columns": columns,
        });
        (GEO_KEY.to_string(), geo.to_string())
    }
}

/// What a WKB walk is told of each point: whether it starts a new part
/// (a ring or a line), and its x and y.
type Visit<'v> = dyn FnMut(bool, f64, f64) + 'v;

/// The parts (rings of polygons, lines, points) of a WKB geometry, each as
/// its (x, y) points: what a map draws. `None` when it is not readable WKB.
pub fn parts(wkb: &[u8]) -> Option<Vec<Vec<(f64, f64)>>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut visit = |start: bool, x: f64, y: f64| {
        if start || out.is_empty() {
            out.push(Vec::new());
        }
        if let Some(last) = out.last_mut() {
            last.push((x, y));
        }
    };
    Wkb { b: wkb, at: 0 }.geometry(&mut visit, 0)?;
    Some(out)
}

/// A WKB reader: geometry types and coordinates.
struct Wkb<'a> {
    b: &'a [u8],
    at: usize,
}

impl Wkb<'_> {
    fn u32(&mut self, le: bool) -> Option<u32> {
        let s: [u8; 4] = self.b.get(self.at..self.at + 4)?.try_into().ok()?;
        self.at += 4;
        Some(if le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    }

    fn f64(&mut self, le: bool) -> Option<f64> {
        let s: [u8; 8] = self.b.get(self.at..self.at + 8)?.try_into().ok()?;
        self.at += 8;
        Some(if le {
            f64::from_le_bytes(s)
        } else {
            f64::from_be_bytes(s)
        })
    }

    /// `n` points, the first of them starting a new part (ring or line).
    fn points(&mut self, le: bool, dims: usize, n: u32, visit: &mut Visit) -> Option<()> {
        for k in 0..n {
            let (x, y) = (self.f64(le)?, self.f64(le)?);
            for _ in 2..dims {
                self.f64(le)?;
            }
            visit(k == 0, x, y);
        }
        Some(())
    }

    /// One geometry (ISO WKB, 2D, Z, M or ZM); its GeoParquet type name.
    fn geometry(&mut self, visit: &mut Visit, depth: u32) -> Option<String> {
        if depth > 8 {
            return None;
        }
        let le = match self.b.get(self.at)? {
            1 => true,
            0 => false,
            _ => return None,
        };
        self.at += 1;
        let code = self.u32(le)?;
        let (base, dims, z) = match code / 1000 {
            0 => (code, 2, false),
            1 => (code - 1000, 3, true),
            2 => (code - 2000, 3, false),
            3 => (code - 3000, 4, true),
            _ => return None,
        };
        let name = match base {
            1 => {
                self.points(le, dims, 1, visit)?;
                "Point"
            }
            2 => {
                let n = self.u32(le)?;
                self.points(le, dims, n, visit)?;
                "LineString"
            }
            3 => {
                for _ in 0..self.u32(le)? {
                    let n = self.u32(le)?;
                    self.points(le, dims, n, visit)?;
                }
                "Polygon"
            }
            4..=7 => {
                for _ in 0..self.u32(le)? {
                    self.geometry(visit, depth + 1)?;
                }
                [
                    "MultiPoint",
                    "MultiLineString",
                    "MultiPolygon",
                    "GeometryCollection",
                ][(base - 4) as usize]
            }
            _ => return None,
        };
        Some(if z {
            format!("{name} Z")
        } else {
            name.to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// One geometry column, as a `geometry` contract column's schema.
    fn geometry_schema() -> arrow_schema::SchemaRef {
        let c: eqpipe_plugin_sdk::Contract = toml::from_str(
            "name = \"g\"\nversion = 1\n[[columns]]\nname = \"geometry\"\ntype = \"geometry\"\nnullable = true\n",
        )
        .unwrap();
        c.arrow_schema()
    }

    fn polygon_wkb(ring: &[(f64, f64)]) -> Vec<u8> {
        let mut b = vec![1];
        b.extend(3u32.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend((ring.len() as u32).to_le_bytes());
        for (x, y) in ring {
            b.extend(x.to_le_bytes());
            b.extend(y.to_le_bytes());
        }
        b
    }

    #[test]
    fn the_geo_metadata_states_types_and_bounds() {
        let schema = geometry_schema();
        let mut g = GeoColumns::of(&schema).expect("a geometry column");
        let a = polygon_wkb(&[(-2.3, 53.4), (-2.2, 53.4), (-2.2, 53.5), (-2.3, 53.4)]);
        // A big-endian MultiPolygon holding one polygon.
        let mut m = vec![0];
        m.extend(6u32.to_be_bytes());
        m.extend(1u32.to_be_bytes());
        m.push(0);
        m.extend(3u32.to_be_bytes());
        m.extend(1u32.to_be_bytes());
        m.extend(4u32.to_be_bytes());
        for (x, y) in [(-2.5, 53.3), (-2.4, 53.3), (-2.4, 53.35), (-2.5, 53.3)] {
            m.extend(f64::to_be_bytes(x));
            m.extend(f64::to_be_bytes(y));
        }
        let col =
            arrow_array::BinaryArray::from_iter([Some(a.as_slice()), None, Some(m.as_slice())]);
        g.observe(&RecordBatch::try_new(schema, vec![Arc::new(col)]).unwrap());
        let (k, v) = g.metadata();
        assert_eq!(k, "geo");
        let v: serde_json::Value = serde_json::from_str(&v).unwrap();
        assert_eq!(v["version"], "1.1.0");
        assert_eq!(v["primary_column"], "geometry");
        let c = &v["columns"]["geometry"];
        assert_eq!(c["encoding"], "WKB");
        assert_eq!(
            c["geometry_types"],
            serde_json::json!(["MultiPolygon", "Polygon"])
        );
        assert_eq!(c["bbox"], serde_json::json!([-2.5, 53.3, -2.2, 53.5]));
        // Its parts, as a map draws them: one ring each.
        assert_eq!(
            parts(&a).unwrap(),
            vec![vec![(-2.3, 53.4), (-2.2, 53.4), (-2.2, 53.5), (-2.3, 53.4)]]
        );
        assert_eq!(parts(&m).unwrap().len(), 1);
        assert_eq!(parts(&[1, 3, 0]), None);
        // A plain binary column is not a geometry.
        let plain = Schema::new(vec![arrow_schema::Field::new("b", DataType::Binary, true)]);
        assert!(GeoColumns::of(&plain).is_none());
    }

    #[test]
    fn unreadable_wkb_makes_the_types_unknown() {
        let schema = geometry_schema();
        let mut g = GeoColumns::of(&schema).unwrap();
        let col = arrow_array::BinaryArray::from_iter([Some(&[1u8, 3, 0][..])]);
        g.observe(&RecordBatch::try_new(schema, vec![Arc::new(col)]).unwrap());
        let v: serde_json::Value = serde_json::from_str(&g.metadata().1).unwrap();
        assert_eq!(
            v["columns"]["geometry"]["geometry_types"],
            serde_json::json!([])
        );
        assert!(v["columns"]["geometry"].get("bbox").is_none());
    }
}
