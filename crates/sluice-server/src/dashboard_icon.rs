//! The dashboard's icon: a white funnel on a tile of the dashboard's accent blue. It is drawn
//! here, once, from one description: as SVG (`/favicon.svg`, which the pages link) and as an
//! ICO of 16 and 32 pixels (`/favicon.ico`, which browsers and other tools ask for whatever
//! a page links).

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The drawing's side, in its own units.
const SIDE: f32 = 32.0;
/// The radius of the tile's corners.
const RADIUS: f32 = 7.0;
/// The tile's colour: the dashboard's accent (`--accent` in `base.html`).
const ACCENT: [u8; 3] = [0x1f, 0x6f, 0xeb];
/// The funnel, clockwise from its top left corner: a wide mouth narrowing to a spout.
const FUNNEL: [(f32, f32); 6] = [
    (7.0, 8.0),
    (25.0, 8.0),
    (18.0, 17.5),
    (18.0, 25.5),
    (14.0, 25.5),
    (14.0, 17.5),
];
/// The ICO's images, in pixels.
const ICO_SIZES: [u32; 2] = [16, 32];
/// Browsers ask for an icon on every page: once a day is enough.
const CACHE: &str = "public, max-age=86400";

static SVG: LazyLock<String> = LazyLock::new(|| {
    let [r, g, b] = ACCENT;
    let points: Vec<String> = FUNNEL.iter().map(|(x, y)| format!("{x},{y}")).collect();
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIDE} {SIDE}"><rect width="{SIDE}" height="{SIDE}" rx="{RADIUS}" fill="#{r:02x}{g:02x}{b:02x}"/><polygon points="{}" fill="#fff"/></svg>"##,
        points.join(" ")
    )
});

static ICO: LazyLock<Vec<u8>> = LazyLock::new(ico_file);

/// `GET /favicon.svg`.
pub(super) async fn svg() -> Response {
    let headers = [
        (header::CONTENT_TYPE, "image/svg+xml"),
        (header::CACHE_CONTROL, CACHE),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, SVG.as_str()).into_response()
}

/// `GET /favicon.ico`.
pub(super) async fn ico() -> Response {
    let headers = [
        (header::CONTENT_TYPE, "image/x-icon"),
        (header::CACHE_CONTROL, CACHE),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, ICO.as_slice()).into_response()
}

/// An ICO file: its directory (one entry per size), then each image.
fn ico_file() -> Vec<u8> {
    let images: Vec<Vec<u8>> = ICO_SIZES.iter().map(|&n| bitmap(n)).collect();
    let mut out = Vec::new();
    for field in [0u16, 1, ICO_SIZES.len() as u16] {
        out.extend(field.to_le_bytes());
    }
    let mut offset = 6 + 16 * images.len();
    for (&n, image) in ICO_SIZES.iter().zip(&images) {
        out.extend([n as u8, n as u8, 0, 0]);
        out.extend(1u16.to_le_bytes());
        out.extend(32u16.to_le_bytes());
        out.extend((image.len() as u32).to_le_bytes());
        out.extend((offset as u32).to_le_bytes());
        offset += image.len();
    }
    images.into_iter().flatten().for_each(|byte| out.push(byte));
    out
}

/// One image of an ICO, `n` pixels square: a 32-bit BMP without its file header, declared
/// twice as high as it is (the colours, rows from the bottom up, then the 1-bit mask, which
/// the alpha channel makes all zeros).
fn bitmap(n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for field in [40, n, 2 * n] {
        out.extend(field.to_le_bytes());
    }
    out.extend(1u16.to_le_bytes());
    out.extend(32u16.to_le_bytes());
    out.extend([0u8; 24]);
    for y in (0..n).rev() {
        for x in 0..n {
            let [r, g, b, a] = pixel(x, y, n);
            out.extend([b, g, r, a]);
        }
    }
    let mask_row = n.div_ceil(32) * 4;
    out.resize(out.len() + (mask_row * n) as usize, 0);
    out
}

/// The colour of pixel (`x`, `y`) of an `n`-pixel image, as RGBA (not premultiplied): the
/// share of 4×4 samples inside the tile is its alpha, the share of those inside the funnel
/// its whiteness.
fn pixel(x: u32, y: u32, n: u32) -> [u8; 4] {
    const GRID: u32 = 4;
    let scale = SIDE / n as f32;
    let (mut tile, mut funnel) = (0u32, 0u32);
    for i in 0..GRID {
        for j in 0..GRID {
            let px = (x as f32 + (i as f32 + 0.5) / GRID as f32) * scale;
            let py = (y as f32 + (j as f32 + 0.5) / GRID as f32) * scale;
            if in_tile(px, py) {
                tile += 1;
                funnel += u32::from(in_funnel(px, py));
            }
        }
    }
    if tile == 0 {
        return [0; 4];
    }
    let white = funnel as f32 / tile as f32;
    let mix = |c: u8| (f32::from(c) + (255.0 - f32::from(c)) * white).round() as u8;
    let [r, g, b] = ACCENT;
    [mix(r), mix(g), mix(b), (255 * tile / (GRID * GRID)) as u8]
}

/// Inside the rounded square.
fn in_tile(x: f32, y: f32) -> bool {
    let inside = (0.0..=SIDE).contains(&x) && (0.0..=SIDE).contains(&y);
    // How far outside the square the corners' circles are centred in.
    let dx = (RADIUS - x).max(x - (SIDE - RADIUS)).max(0.0);
    let dy = (RADIUS - y).max(y - (SIDE - RADIUS)).max(0.0);
    inside && dx * dx + dy * dy <= RADIUS * RADIUS
}

/// Inside the funnel (even-odd rule).
fn in_funnel(x: f32, y: f32) -> bool {
    let mut inside = false;
    for (i, &(x1, y1)) in FUNNEL.iter().enumerate() {
        let (x2, y2) = FUNNEL[(i + 1) % FUNNEL.len()];
        if (y1 > y) != (y2 > y) && x < x1 + (y - y1) * (x2 - x1) / (y2 - y1) {
            inside = !inside;
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([bytes[at], bytes[at + 1]])
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn the_ico_holds_each_size_end_to_end() {
        let ico = ico_file();
        assert_eq!((u16_at(&ico, 0), u16_at(&ico, 2)), (0, 1), "an icon file");
        assert_eq!(u16_at(&ico, 4) as usize, ICO_SIZES.len());
        let mut end = 6 + 16 * ICO_SIZES.len();
        for (i, n) in ICO_SIZES.into_iter().enumerate() {
            let entry = 6 + 16 * i;
            assert_eq!(u32::from(ico[entry]), n);
            let (len, offset) = (u32_at(&ico, entry + 8), u32_at(&ico, entry + 12));
            assert_eq!(offset as usize, end, "images follow one another");
            end += len as usize;
            let image = &ico[offset as usize..end];
            assert_eq!((u32_at(image, 4), u32_at(image, 8)), (n, 2 * n));
            assert_eq!(len, 40 + n * n * 4 + n * 4);
        }
        assert_eq!(end, ico.len());
    }

    #[test]
    fn the_drawing_is_a_white_funnel_on_a_blue_tile() {
        let [r, g, b] = ACCENT;
        assert_eq!(pixel(0, 0, 32)[3], 0, "a rounded corner is transparent");
        assert_eq!(pixel(2, 16, 32), [r, g, b, 255], "the tile");
        assert_eq!(
            pixel(15, 10, 32),
            [255, 255, 255, 255],
            "the funnel's mouth"
        );
        assert_eq!(pixel(15, 22, 32), [255, 255, 255, 255], "its spout");
        assert_eq!(pixel(9, 20, 32), [r, g, b, 255], "beside the spout");
        assert!(
            SVG.starts_with("<svg ") && SVG.contains("#1f6feb"),
            "{}",
            *SVG
        );
        assert!(SVG.contains(r#"points="7,8 25,8 18,17.5 18,25.5 14,25.5 14,17.5""#));
    }
}
