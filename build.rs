// The embedded migrations (`sqlx::migrate!`) must be rebuilt when a migration
// is added or changed; cargo does not watch the folder on its own.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
