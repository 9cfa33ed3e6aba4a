//! Amazon IVS Real-Time, for audiences larger than one server's SFU carries. Built in steps
//! (issue 10): participant tokens first ([`token`]), minted here with a key pair whose public
//! half is imported into IVS, so joining costs no AWS call; the provider that creates stages,
//! disconnects participants and runs composition follows.

pub mod token;
