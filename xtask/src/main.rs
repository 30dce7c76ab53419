#![allow(dead_code)]
mod judge;

fn main() {}
