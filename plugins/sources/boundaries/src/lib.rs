//! `boundaries`: area boundaries from GeoJSON (as the ONS Open Geography
//! Portal and the councils' data teams publish them) into the `boundaries`
//! dataset, stored as GeoParquet: the geometry as WKB in a `geometry`
//! column the host marks with GeoParquet's `geo` metadata (so DuckDB
//! spatial, GeoPandas and QGIS read it as geometry), one row per area with
//! its code, name, level, boundary vintage, bounding box and a label point.
//!
//! What real files hold, all taken:
//! - the code and name under ONS's property names (`WD23CD`, `LSOA21CD`,
//!   `LAD23NM`, …) or renamed (`area_code`, `area_name`, as Trafford Data
//!   Lab's copies), or the names `code_property` and `name_property` give;
//! - `Polygon` and `MultiPolygon` geometries, rings wound either way (ONS
//!   follows RFC 7946; some copies are wound clockwise for D3): kept as
//!   published, never "fixed" (the GeoParquet metadata states no
//!   orientation);
//! - a centroid as numbers or as JSON strings (`"lon": "-2.20943"`), kept
//!   as the label point; without one, the geometric centroid of the largest
//!   polygon;
//! - GDAL's `name` and `crs` members (`urn:ogc:def:crs:OGC:1.3:CRS84`);
//!   another CRS is refused by name, since GeoJSON (RFC 7946) and the
//!   stored metadata mean longitude/latitude on WGS 84.
//!
//! The level comes from the code's prefix (`E05` ward, `E01` LSOA, `E02`
//! MSOA, `E00` output area, `E06`/`E07`/`E08`/`E09` and Welsh `W06` local
//! authority, `E10` county, `E12` region) or `level`; the vintage from an
//! ONS property name (`WD23CD` gives 2023) or `vintage`, which a file with
//! renamed properties must set: boundaries change (Trafford's wards of
//! May 2023 share no code with 2022's).

use std::path::Path;
use std::sync::Arc;

use eqpipe_plugin_sdk::arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch};
use eqpipe_plugin_sdk::arrow_schema::{DataType, Field, Schema};
use eqpipe_plugin_sdk::prelude::*;
use serde::Deserialize;
use serde_json::Value;

/// Options of `[sources.options]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// GeoJSON FeatureCollection: a path, a URL, or a glob of them.
    pub path: String,
    /// The boundaries' year (`2023` for Wards May 2023); needed where the
    /// properties do not say it (renamed to `area_code`).
    #[serde(default)]
    pub vintage: Option<String>,
    /// The level of every area (`ward`, `lsoa`, …) where the codes' prefixes
    /// do not tell it.
    #[serde(default)]
    pub level: Option<String>,
    /// The property holding the area code (default `area_code`, else an
    /// ONS `…CD` property, else `code`).
    #[serde(default)]
    pub code_property: Option<String>,
    /// The property holding the area name (default `area_name`, else an
    /// ONS `…NM` property, else `name`).
    #[serde(default)]
    pub name_property: Option<String>,
    /// The property holding the parent area's code (default
    /// `local_authority_area_code`, else an ONS `LAD…CD` property other
    /// than the code's own).
    #[serde(default)]
    pub parent_property: Option<String>,
    /// Keep only these area codes (empty: every area, unless
    /// `parent_areas` selects).
    #[serde(default)]
    pub areas: Vec<String>,
    /// Keep only the areas inside these (e.g. the wards of `E08000003`):
    /// those `lookup` puts inside them or, without a lookup, those whose
    /// parent property names them. A parent no feature falls in fails the
    /// step: a mistyped code must not give an empty map.
    #[serde(default)]
    pub parent_areas: Vec<String>,
    /// ONS lookup CSVs (URLs or paths) relating the areas to
    /// `parent_areas` (such as the LSOA-to-ward-to-LAD lookup).
    #[serde(default)]
    pub lookup: Vec<String>,
}

/// Which features to keep: every one, or those whose code is in a set or
/// whose parent is one of the named.
enum Selection {
    All,
    Codes(std::collections::HashSet<String>),
    Parents(std::collections::HashSet<String>),
}

impl Selection {
    fn keeps(&self, code: &str, parent: &str) -> bool {
        match self {
            Selection::All => true,
            Selection::Codes(c) => c.contains(code),
            Selection::Parents(p) => p.contains(parent),
        }
    }
}

/// The dataset's text columns, in order; `geometry` follows them.
pub const COLUMNS: &[&str] = &[
    "area_code",
    "area_name",
    "level",
    "vintage",
    "parent_code",
    "bbox_xmin",
    "bbox_ymin",
    "bbox_xmax",
    "bbox_ymax",
    "label_lon",
    "label_lat",
];

/// A ring: (longitude, latitude) points.
type Ring = Vec<(f64, f64)>;
/// A polygon: its outer ring, then any holes.
type Polygon = Vec<Ring>;

/// The level an ONS code's prefix names.
pub fn level_of(code: &str) -> Option<&'static str> {
    Some(match code.get(..3)? {
        "E00" | "W00" => "oa",
        "E01" | "W01" => "lsoa",
        "E02" | "W02" => "msoa",
        "E05" | "W05" => "ward",
        "E06" | "E07" | "E08" | "E09" | "W06" => "ltla",
        "E10" => "county",
        "E12" => "region",
        "E92" | "W92" => "country",
        _ => return None,
    })
}

/// An ONS property name's year: `WD23CD` gives `2023`, `LSOA21CD` `2021`.
pub fn vintage_of(property: &str) -> Option<String> {
    let p = property.to_ascii_uppercase();
    let stem = p.strip_suffix("CD").or_else(|| p.strip_suffix("NM"))?;
    let digits: String = stem
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    let letters = &stem[..stem.len() - digits.len()];
    (digits.len() == 2 && !letters.is_empty() && letters.chars().all(|c| c.is_ascii_uppercase()))
        .then(|| format!("20{}", digits.chars().rev().collect::<String>()))
}

/// A property's value as text (strings as they are, numbers written out).
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A coordinate pair (extra ordinates, such as a height, are ignored).
fn point(v: &Value) -> Result<(f64, f64), String> {
    let a = v.as_array().ok_or("a position is not an array")?;
    match (
        a.first().and_then(Value::as_f64),
        a.get(1).and_then(Value::as_f64),
    ) {
        (Some(x), Some(y)) => Ok((x, y)),
        _ => Err("a position without two numbers".into()),
    }
}

fn ring(v: &Value) -> Result<Ring, String> {
    let pts = v
        .as_array()
        .ok_or("a ring is not an array")?
        .iter()
        .map(point)
        .collect::<Result<Ring, _>>()?;
    if pts.len() < 4 {
        return Err(format!("a ring of {} positions (at least 4)", pts.len()));
    }
    Ok(pts)
}

fn polygon(v: &Value) -> Result<Polygon, String> {
    v.as_array()
        .ok_or("a polygon is not an array of rings")?
        .iter()
        .map(ring)
        .collect()
}

/// A GeoJSON geometry's polygons (`Polygon` or `MultiPolygon`).
pub fn polygons(geometry: &Value) -> Result<Vec<Polygon>, String> {
    let kind = geometry.get("type").and_then(Value::as_str).unwrap_or("");
    let coords = geometry
        .get("coordinates")
        .ok_or("a geometry without coordinates")?;
    match kind {
        "Polygon" => Ok(vec![polygon(coords)?]),
        "MultiPolygon" => coords
            .as_array()
            .ok_or("a MultiPolygon's coordinates are not an array")?
            .iter()
            .map(polygon)
            .collect(),
        other => Err(format!(
            "a `{other}` geometry (area boundaries are Polygon or MultiPolygon)"
        )),
    }
}

/// Well-known binary (little-endian) of the polygons: a `Polygon` for one,
/// a `MultiPolygon` for several.
pub fn wkb(polys: &[Polygon]) -> Vec<u8> {
    fn put_polygon(out: &mut Vec<u8>, p: &Polygon) {
        out.push(1);
        out.extend(3u32.to_le_bytes());
        out.extend((p.len() as u32).to_le_bytes());
        for r in p {
            out.extend((r.len() as u32).to_le_bytes());
            for (x, y) in r {
                out.extend(x.to_le_bytes());
                out.extend(y.to_le_bytes());
            }
        }
    }
    let mut out = Vec::new();
    if let [one] = polys {
        put_polygon(&mut out, one);
    } else {
        out.push(1);
        out.extend(6u32.to_le_bytes());
        out.extend((polys.len() as u32).to_le_bytes());
        for p in polys {
            put_polygon(&mut out, p);
        }
    }
    out
}

/// Signed area (shoelace) and centroid of a ring, in degrees.
fn ring_centroid(r: &Ring) -> (f64, f64, f64) {
    let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for w in r.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        let cross = x0 * y1 - x1 * y0;
        a += cross;
        cx += (x0 + x1) * cross;
        cy += (y0 + y1) * cross;
    }
    let a = a / 2.0;
    if a == 0.0 {
        return (0.0, r[0].0, r[0].1);
    }
    (a, cx / (6.0 * a), cy / (6.0 * a))
}

/// The centroid of the largest polygon's outer ring (whichever way it is
/// wound).
pub fn label_point(polys: &[Polygon]) -> Option<(f64, f64)> {
    polys
        .iter()
        .filter_map(|p| p.first())
        .map(ring_centroid)
        .max_by(|a, b| a.0.abs().total_cmp(&b.0.abs()))
        .map(|(_, x, y)| (x, y))
}

/// The bounding box of the polygons.
fn bbox(polys: &[Polygon]) -> (f64, f64, f64, f64) {
    let mut b = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in polys.iter().flatten().flatten() {
        b = (b.0.min(*x), b.1.min(*y), b.2.max(*x), b.3.max(*y));
    }
    b
}

/// Which property of a feature holds the code, the name and the parent.
#[derive(Debug, Clone)]
struct Names {
    code: String,
    name: Option<String>,
    parent: Option<String>,
    vintage: Option<String>,
}

impl Names {
    /// Found from the first feature's properties and the options.
    fn find(props: &serde_json::Map<String, Value>, o: &Options) -> Result<Names, String> {
        let ons = |suffix: &str, not: Option<&str>| {
            props
                .keys()
                .find(|k| {
                    vintage_of(k).is_some()
                        && k.to_ascii_uppercase().ends_with(suffix)
                        && Some(k.as_str()) != not
                        && !k.to_ascii_uppercase().starts_with("LAD")
                })
                .cloned()
        };
        let code = match &o.code_property {
            Some(c) => c.clone(),
            None if props.contains_key("area_code") => "area_code".into(),
            None => ons("CD", None)
                .or_else(|| props.contains_key("code").then(|| "code".into()))
                .ok_or_else(|| {
                    format!(
                        "no area code property (`area_code`, an ONS `…CD` such as `WD23CD`, or `code`) among {:?}: set `code_property`",
                        props.keys().collect::<Vec<_>>()
                    )
                })?,
        };
        let name = match &o.name_property {
            Some(n) => Some(n.clone()),
            None if props.contains_key("area_name") => Some("area_name".into()),
            None => ons("NM", None).or_else(|| props.contains_key("name").then(|| "name".into())),
        };
        let parent = match &o.parent_property {
            Some(p) => Some(p.clone()),
            None if props.contains_key("local_authority_area_code") => {
                Some("local_authority_area_code".into())
            }
            None => props
                .keys()
                .find(|k| {
                    let u = k.to_ascii_uppercase();
                    u.starts_with("LAD") && u.ends_with("CD") && **k != code
                })
                .cloned(),
        };
        let vintage = o.vintage.clone().or_else(|| vintage_of(&code));
        Ok(Names {
            code,
            name,
            parent,
            vintage,
        })
    }
}

/// The plugin.
pub struct Boundaries {
    options: Options,
    selection: Selection,
}

impl Boundaries {
    fn describe_selection(&self) -> String {
        let mut named: Vec<&str> = self.options.areas.iter().map(String::as_str).collect();
        named.extend(self.options.parent_areas.iter().map(String::as_str));
        named.join(", ")
    }

    /// The areas to keep, from `areas`, `parent_areas` and `lookup`.
    fn select(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let o = &self.options;
        let mut codes: std::collections::HashSet<String> =
            o.areas.iter().map(|a| a.trim().to_string()).collect();
        if o.parent_areas.is_empty() {
            if !codes.is_empty() {
                self.selection = Selection::Codes(codes);
            }
            return Ok(());
        }
        if o.lookup.is_empty() {
            if !codes.is_empty() {
                return Err(PluginError::config(
                    "`areas` with `parent_areas` needs `lookup` (without one, `parent_areas` matches the features' parent property)",
                ));
            }
            self.selection = Selection::Parents(
                o.parent_areas
                    .iter()
                    .map(|p| p.trim().to_string())
                    .collect(),
            );
            return Ok(());
        }
        for lookup in &o.lookup {
            let got = ctx.fetch_url(lookup)?;
            let inside = eqpipe_ons_census::areas_within(&got.path, lookup, &o.parent_areas)?;
            ctx.info(&format!(
                "{} areas within {} (from {lookup})",
                inside.len(),
                o.parent_areas.join(", ")
            ));
            codes.extend(inside);
        }
        self.selection = Selection::Codes(codes);
        Ok(())
    }

    // Long: one feature's fields, geometry and derived columns in turn.
    fn read(&self, ctx: &Context, path: &Path, file: &str) -> Result<u64, PluginError> {
        let body = std::fs::read(path).map_err(|e| PluginError::io(format!("{file}: {e}")))?;
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| PluginError::data(format!("{file}: not JSON: {e}")))?;
        if let Some(crs) = doc
            .pointer("/crs/properties/name")
            .and_then(Value::as_str)
            .filter(|c| !c.contains("CRS84") && !c.ends_with("EPSG::4326") && !c.ends_with(":4326"))
        {
            return Err(PluginError::data(format!(
                "{file}: coordinates in `{crs}`: reproject to longitude/latitude (WGS 84, as GeoJSON requires) first, e.g. `ogr2ogr -t_srs EPSG:4326`"
            )));
        }
        let features = doc
            .get("features")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                PluginError::data(format!(
                    "{file}: no `features` array: not a GeoJSON FeatureCollection"
                ))
            })?;
        let empty = serde_json::Map::new();
        let first = features
            .first()
            .and_then(|f| f.get("properties"))
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let names = Names::find(first, &self.options)
            .map_err(|e| PluginError::data(format!("{file}: {e}")))?;
        let Some(vintage) = names.vintage.clone() else {
            return Err(PluginError::config(format!(
                "{file}: the boundaries' year is not in the properties (`{}`): set `vintage` (2023 for Wards May 2023)",
                names.code
            )));
        };
        let mut rows = TextRows::new(COLUMNS);
        let mut shapes: Vec<Option<Vec<u8>>> = Vec::with_capacity(features.len());
        let mut bad = 0u64;
        let mut left_out = 0u64;
        let mut parents_seen = std::collections::HashSet::new();
        for (i, f) in features.iter().enumerate() {
            let props = f
                .get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let code = text(props.get(&names.code)).unwrap_or_default();
            let parent = names
                .parent
                .as_ref()
                .and_then(|p| text(props.get(p)))
                .unwrap_or_default();
            if !self.selection.keeps(&code, &parent) {
                left_out += 1;
                continue;
            }
            parents_seen.insert(parent.clone());
            let geometry = f.get("geometry").filter(|g| !g.is_null());
            let polys = match geometry.map(polygons) {
                Some(Ok(p)) => Some(p),
                Some(Err(e)) => {
                    // The host quarantines the row (no geometry) by name.
                    bad += 1;
                    ctx.warn(&format!("{file}, feature {}: {e}", i + 1));
                    None
                }
                None => None,
            };
            let level = self
                .options
                .level
                .clone()
                .or_else(|| level_of(&code).map(String::from))
                .unwrap_or_default();
            let published = (
                text(props.get("lon")).and_then(|v| v.parse::<f64>().ok()),
                text(props.get("lat")).and_then(|v| v.parse::<f64>().ok()),
            );
            let label = match published {
                (Some(x), Some(y)) => Some((x, y)),
                _ => polys.as_deref().and_then(label_point),
            };
            let b = polys.as_deref().map(bbox);
            let show = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
            rows.push(
                [
                    code,
                    names
                        .name
                        .as_ref()
                        .and_then(|n| text(props.get(n)))
                        .unwrap_or_default(),
                    level,
                    vintage.clone(),
                    parent,
                    show(b.map(|b| b.0)),
                    show(b.map(|b| b.1)),
                    show(b.map(|b| b.2)),
                    show(b.map(|b| b.3)),
                    show(label.map(|l| l.0)),
                    show(label.map(|l| l.1)),
                ],
                file,
                i as u64 + 1,
            );
            shapes.push(polys.map(|p| wkb(&p)));
        }
        let n = rows.len() as u64;
        if left_out > 0 {
            ctx.info(&format!(
                "{file}: {left_out} features outside the selected areas left out"
            ));
        }
        if let Selection::Parents(p) = &self.selection
            && let Some(missing) = p.iter().find(|p| !parents_seen.contains(*p))
        {
            return Err(PluginError::config(format!(
                "{file}: no feature's parent ({}) is {missing}: check `parent_areas`",
                names.parent.as_deref().unwrap_or("no parent property")
            )));
        }
        if n == 0 && left_out > 0 {
            return Err(PluginError::config(format!(
                "{file}: none of its {left_out} features is among the selected areas ({}): check `areas` and `parent_areas`",
                self.describe_selection()
            )));
        }
        if n == 0 {
            return Ok(0);
        }
        let batch = rows.take_batch()?;
        let geometry: ArrayRef =
            Arc::new(BinaryArray::from_iter(shapes.iter().map(|s| s.as_deref())));
        let mut fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        fields.insert(
            COLUMNS.len(),
            Field::new("geometry", DataType::Binary, true),
        );
        columns.insert(COLUMNS.len(), geometry);
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        debug_assert_eq!(batch.column(COLUMNS.len()).len(), n as usize);
        ctx.emit_batches("boundaries", batch.schema(), vec![batch])?;
        if bad > 0 {
            ctx.coverage_warning(
                Some("boundaries"),
                &format!("{file}: features whose geometry is not an area (Polygon or MultiPolygon): quarantined"),
                bad,
                Some(n),
            );
        }
        Ok(n)
    }
}

impl SourcePlugin for Boundaries {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::source("boundaries", env!("CARGO_PKG_VERSION"))
            .description("Area boundaries from GeoJSON into GeoParquet (WKB geometry, code, name, level, vintage)")
            .licence("Open Government Licence v3.0 (ONS Open Geography; contains OS data © Crown copyright and database right)")
            .produces("boundaries")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        if options.path.trim().is_empty() {
            return Err(PluginError::config("`path` is empty"));
        }
        Ok(Boundaries {
            options,
            selection: Selection::All,
        })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        self.select(ctx)?;
        for (path, name) in eqpipe_workforce::resolve_some_inputs(ctx, &self.options.path)? {
            ctx.check_cancelled()?;
            let n = self.read(ctx, &path, &name)?;
            ctx.info(&format!("{name}: {n} areas"));
        }
        Ok(())
    }
}

eqpipe_plugin_sdk::export_plugin!(source: Boundaries);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_vintages_from_ons_names() {
        assert_eq!(level_of("E05015228"), Some("ward"));
        assert_eq!(level_of("E01006111"), Some("lsoa"));
        assert_eq!(level_of("E08000009"), Some("ltla"));
        assert_eq!(level_of("X99"), None);
        assert_eq!(vintage_of("WD23CD").as_deref(), Some("2023"));
        assert_eq!(vintage_of("LSOA21CD").as_deref(), Some("2021"));
        assert_eq!(vintage_of("lad22nm").as_deref(), Some("2022"));
        assert_eq!(vintage_of("area_code"), None);
        assert_eq!(vintage_of("CD"), None);
    }

    #[test]
    fn wkb_of_a_square_and_a_multipolygon() {
        let square: Polygon = vec![vec![
            (0.0, 0.0),
            (1.0, 0.0),
            (1.0, 1.0),
            (0.0, 1.0),
            (0.0, 0.0),
        ]];
        let b = wkb(std::slice::from_ref(&square));
        // byte order, type 3, one ring, five points of 16 bytes.
        assert_eq!(b.len(), 1 + 4 + 4 + 4 + 5 * 16);
        assert_eq!(&b[..9], &[1, 3, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(f64::from_le_bytes(b[29..37].try_into().unwrap()), 1.0);
        let m = wkb(&[square.clone(), square.clone()]);
        assert_eq!(&m[..9], &[1, 6, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(m.len(), 9 + 2 * b.len());
        // A clockwise ring's centroid is the same.
        let cw: Polygon = vec![square[0].iter().rev().copied().collect()];
        assert_eq!(label_point(&[cw]), Some((0.5, 0.5)));
        let err = polygons(&serde_json::json!({"type": "Point", "coordinates": [0, 0]}));
        assert!(err.unwrap_err().contains("Point"));
    }
}
