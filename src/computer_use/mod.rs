//! Computer use (`/computeruse/…`). Screen recordings (`recording/`) need only `ffmpeg` and an
//! X display, so they work whether or not the desktop helper does.

pub mod recording;
