//! The colour of the vehicle that carries a plate, from the paint around the plate.
//!
//! A plate is fixed to the vehicle's body: the band above it (boot lid, tailgate, bumper) and
//! the strips beside it are paint more often than anything else near a plate. Each pixel
//! there is named one of the [`VehicleColour`]s by its hue, saturation and brightness; the
//! most frequent name wins, and its share of the pixels is the confidence. Lamps, glass,
//! shadows and reflections fall in the same regions, so the confidence is often modest, and
//! silver, grey and white are told apart by brightness alone. How often it is right, on a
//! set labelled by eye, is in `docs/benchmarks.md` (`candor eval-colour`).

use image::RgbImage;
use serde::Serialize;

use crate::geometry::BoxF;

/// Names of vehicle colours, as agencies and hot lists use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VehicleColour {
    Black,
    White,
    /// Grey and silver.
    Grey,
    Red,
    Orange,
    Yellow,
    Green,
    Blue,
    Brown,
    Purple,
}

impl VehicleColour {
    pub const ALL: [VehicleColour; 10] = [
        VehicleColour::Black,
        VehicleColour::White,
        VehicleColour::Grey,
        VehicleColour::Red,
        VehicleColour::Orange,
        VehicleColour::Yellow,
        VehicleColour::Green,
        VehicleColour::Blue,
        VehicleColour::Brown,
        VehicleColour::Purple,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VehicleColour::Black => "black",
            VehicleColour::White => "white",
            VehicleColour::Grey => "grey",
            VehicleColour::Red => "red",
            VehicleColour::Orange => "orange",
            VehicleColour::Yellow => "yellow",
            VehicleColour::Green => "green",
            VehicleColour::Blue => "blue",
            VehicleColour::Brown => "brown",
            VehicleColour::Purple => "purple",
        }
    }

    /// Every word that names this colour, as people and cameras write it (`gray` and
    /// `silver` are grey); the first is [`VehicleColour::as_str`].
    pub fn words(self) -> &'static [&'static str] {
        match self {
            VehicleColour::Black => &["black"],
            VehicleColour::White => &["white"],
            VehicleColour::Grey => &["grey", "gray", "silver"],
            VehicleColour::Red => &["red", "maroon"],
            VehicleColour::Orange => &["orange"],
            VehicleColour::Yellow => &["yellow"],
            VehicleColour::Green => &["green"],
            VehicleColour::Blue => &["blue"],
            VehicleColour::Brown => &["brown", "tan", "beige", "gold"],
            VehicleColour::Purple => &["purple"],
        }
    }

    /// A colour name, as a person or a camera writes it.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|c| c.words().contains(&name.as_str()))
    }

    /// The name of one pixel.
    fn of_pixel(rgb: [u8; 3]) -> VehicleColour {
        let [r, g, b] = rgb.map(|c| f32::from(c) / 255.0);
        let max = r.max(g).max(b);
        let min = r.min(g).min(b);
        let chroma = max - min;
        let value = max;
        let saturation = if max > 0.0 { chroma / max } else { 0.0 };
        if value < 0.22 {
            return VehicleColour::Black;
        }
        if saturation < 0.2 || chroma < 0.08 {
            return if value > 0.72 {
                VehicleColour::White
            } else if value < 0.3 {
                VehicleColour::Black
            } else {
                VehicleColour::Grey
            };
        }
        let hue = if max == r {
            60.0 * ((g - b) / chroma).rem_euclid(6.0)
        } else if max == g {
            60.0 * ((b - r) / chroma + 2.0)
        } else {
            60.0 * ((r - g) / chroma + 4.0)
        };
        match hue {
            h if !(15.0..340.0).contains(&h) => VehicleColour::Red,
            h if h < 40.0 => {
                if value < 0.6 {
                    VehicleColour::Brown
                } else {
                    VehicleColour::Orange
                }
            }
            h if h < 70.0 => {
                if value < 0.5 {
                    VehicleColour::Brown
                } else {
                    VehicleColour::Yellow
                }
            }
            h if h < 165.0 => VehicleColour::Green,
            h if h < 255.0 => VehicleColour::Blue,
            _ => VehicleColour::Purple,
        }
    }
}

/// A vehicle's colour, and the share of the sampled paint that has it (0..1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ColourEstimate {
    pub colour: VehicleColour,
    pub confidence: f32,
}

/// Pixels sampled at most, spread evenly over the regions.
const MAX_SAMPLES: u32 = 4096;

/// The regions around `plate` that are mostly paint, in plate widths and heights: the band
/// above it and the strips either side.
fn paint_regions(plate: &BoxF) -> [BoxF; 3] {
    let (x, y, w, h) = (plate.x, plate.y, plate.w, plate.h);
    [
        BoxF::new(x - 0.25 * w, y - 1.6 * h, 1.5 * w, 1.3 * h),
        BoxF::new(x - 0.9 * w, y, 0.75 * w, h),
        BoxF::new(x + 1.15 * w, y, 0.75 * w, h),
    ]
}

/// The colour of the vehicle carrying the plate at `plate` in `image`; `None` when the
/// plate leaves no paint in the picture around it.
pub fn vehicle_colour(image: &RgbImage, plate: &BoxF) -> Option<ColourEstimate> {
    let (iw, ih) = (image.width() as f32, image.height() as f32);
    let regions = paint_regions(plate).map(|r| r.clamp_to(iw, ih));
    let area: f32 = regions.iter().map(BoxF::area).sum();
    if area < 16.0 {
        return None;
    }
    let step = (area / MAX_SAMPLES as f32).sqrt().max(1.0);
    let mut votes = [0u32; VehicleColour::ALL.len()];
    for r in &regions {
        let mut yy = r.y;
        while yy < r.y + r.h {
            let mut xx = r.x;
            while xx < r.x + r.w {
                let p = image.get_pixel(xx as u32, yy as u32).0;
                let c = VehicleColour::of_pixel(p);
                votes[VehicleColour::ALL
                    .iter()
                    .position(|&k| k == c)
                    .expect("listed")] += 1;
                xx += step;
            }
            yy += step;
        }
    }
    let total: u32 = votes.iter().sum();
    let (best, &n) = votes.iter().enumerate().max_by_key(|(_, n)| **n)?;
    (total > 0).then(|| ColourEstimate {
        colour: VehicleColour::ALL[best],
        confidence: n as f32 / total as f32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A car body of `paint` with a white plate in the middle.
    fn car(paint: [u8; 3]) -> (RgbImage, BoxF) {
        let mut img = RgbImage::from_pixel(400, 300, Rgb(paint));
        let plate = BoxF::new(150.0, 180.0, 100.0, 30.0);
        for y in 180..210 {
            for x in 150..250 {
                img.put_pixel(x, y, Rgb([240, 240, 240]));
            }
        }
        (img, plate)
    }

    #[test]
    fn the_paint_around_the_plate_names_the_colour() {
        for (paint, colour) in [
            ([150, 20, 25], VehicleColour::Red),
            ([20, 40, 130], VehicleColour::Blue),
            ([235, 235, 232], VehicleColour::White),
            ([20, 20, 22], VehicleColour::Black),
            ([150, 152, 156], VehicleColour::Grey),
            ([30, 110, 40], VehicleColour::Green),
            ([230, 200, 30], VehicleColour::Yellow),
            ([235, 120, 20], VehicleColour::Orange),
        ] {
            let (img, plate) = car(paint);
            let e = vehicle_colour(&img, &plate).unwrap();
            assert_eq!(e.colour, colour, "{paint:?}");
            assert!(e.confidence > 0.9);
        }
    }

    #[test]
    fn the_plate_itself_does_not_vote() {
        // A white plate on a red car: red, not white.
        let (img, plate) = car([150, 20, 25]);
        assert_eq!(vehicle_colour(&img, &plate).unwrap().confidence, 1.0);
    }

    #[test]
    fn a_plate_filling_the_picture_has_no_colour() {
        let img = RgbImage::from_pixel(100, 30, Rgb([200, 0, 0]));
        assert_eq!(
            vehicle_colour(&img, &BoxF::new(0.0, 0.0, 100.0, 30.0)),
            None
        );
    }

    #[test]
    fn names_people_write_are_understood() {
        assert_eq!(VehicleColour::parse("Silver"), Some(VehicleColour::Grey));
        assert_eq!(VehicleColour::parse("gray"), Some(VehicleColour::Grey));
        assert_eq!(VehicleColour::parse("BLUE"), Some(VehicleColour::Blue));
        assert_eq!(VehicleColour::parse("chartreuse"), None);
    }
}
