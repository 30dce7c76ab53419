#![allow(dead_code)]
mod delta;
mod judge;
mod report;
mod ticket;

fn main() {}
