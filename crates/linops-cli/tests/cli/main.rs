//! Tests of the `linops` command line: every subcommand on small files the tests write
//! themselves, compared with the library call and a dense faer reference; the past-memory paths;
//! every bad input of issue 11.

mod bad_input;
mod commands;
mod streaming;
mod support;
