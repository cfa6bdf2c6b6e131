//! Geography both sides agree on.

/// Where the map opens: the centre of the UK (latitude, longitude)...
pub const UK_CENTER: (f64, f64) = (54.6, -3.4);
/// ...at a zoom that shows all of it on a laptop screen.
pub const UK_ZOOM: f64 = 5.0;
