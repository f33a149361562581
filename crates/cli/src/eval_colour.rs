//! `candor eval-colour`: how often the vehicle colour named from the paint around a plate
//! agrees with a colour labelled by eye (`training/vehicle_colours.csv`: photos of the
//! detection sets, the plate's box as labelled there, and the car's colour).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use candor_vision::{BoxF, VehicleColour, load_image, vehicle_colour};
use clap::Args as ClapArgs;
use serde::{Deserialize, Serialize};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The labels: set, image (under --images), plate_box ("x0,y0,x1,y1" in pixels), colour
    #[arg(long, default_value = "training/vehicle_colours.csv")]
    labels: PathBuf,
    /// Folder the labels' image paths start from: the one holding the detection sets
    /// (`experiment-plates/`, `openimages-plates/`)
    #[arg(long, value_name = "DIR")]
    images: PathBuf,
    /// Print the results as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Deserialize)]
struct Label {
    set: String,
    image: String,
    plate_box: String,
    colour: String,
}

#[derive(Serialize, Default)]
struct SetResult {
    photos: usize,
    right: usize,
    accuracy: f64,
    /// "labelled → named": how many, for every disagreement.
    confusions: BTreeMap<String, usize>,
}

fn plate_box(text: &str) -> anyhow::Result<BoxF> {
    let v: Vec<f32> = text
        .split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("plate_box {text:?} is not four numbers"))?;
    anyhow::ensure!(v.len() == 4, "plate_box {text:?} is not four numbers");
    Ok(BoxF::new(v[0], v[1], v[2] - v[0], v[3] - v[1]))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut reader = csv::Reader::from_path(&args.labels)
        .with_context(|| format!("opening {}", args.labels.display()))?;
    let mut sets: BTreeMap<String, SetResult> = BTreeMap::new();
    for (i, row) in reader.deserialize::<Label>().enumerate() {
        let row = row.with_context(|| format!("{} line {}", args.labels.display(), i + 2))?;
        let truth = VehicleColour::parse(&row.colour)
            .with_context(|| format!("unknown colour {:?}", row.colour))?;
        let path = args.images.join(&row.image);
        let image = load_image(&path).with_context(|| format!("reading {}", path.display()))?;
        let named = vehicle_colour(&image, &plate_box(&row.plate_box)?).map(|e| e.colour);
        let set = sets.entry(row.set).or_default();
        set.photos += 1;
        if named == Some(truth) {
            set.right += 1;
        } else {
            let named = named.map_or("none", VehicleColour::as_str);
            *set.confusions
                .entry(format!("{} → {named}", truth.as_str()))
                .or_default() += 1;
        }
    }
    for s in sets.values_mut() {
        s.accuracy = s.right as f64 / s.photos.max(1) as f64;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&sets)?);
        return Ok(());
    }
    for (name, s) in &sets {
        println!(
            "{name}: {} of {} right ({:.1} %)",
            s.right,
            s.photos,
            100.0 * s.accuracy
        );
        for (pair, n) in &s.confusions {
            println!("  {pair}: {n}");
        }
    }
    Ok(())
}
