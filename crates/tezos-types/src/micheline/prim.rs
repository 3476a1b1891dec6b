//! Michelson primitive codes (`michelson_v1_primitives.ml`, `prim_encoding` string_enum order).
//!
//! The binary code of a primitive is its index in this table; new primitives are appended.

/// Primitive names indexed by their binary code.
pub(crate) const NAMES: [&str; 158] = [
    "parameter",
    "storage",
    "code",
    "False",
    "Elt",
    "Left",
    "None",
    "Pair",
    "Right",
    "Some",
    "True",
    "Unit",
    "PACK",
    "UNPACK",
    "BLAKE2B",
    "SHA256",
    "SHA512",
    "ABS",
    "ADD",
    "AMOUNT",
    "AND",
    "BALANCE",
    "CAR",
    "CDR",
    "CHECK_SIGNATURE",
    "COMPARE",
    "CONCAT",
    "CONS",
    "CREATE_ACCOUNT",
    "CREATE_CONTRACT",
    "IMPLICIT_ACCOUNT",
    "DIP",
    "DROP",
    "DUP",
    "EDIV",
    "EMPTY_MAP",
    "EMPTY_SET",
    "EQ",
    "EXEC",
    "FAILWITH",
    "GE",
    "GET",
    "GT",
    "HASH_KEY",
    "IF",
    "IF_CONS",
    "IF_LEFT",
    "IF_NONE",
    "INT",
    "LAMBDA",
    "LE",
    "LEFT",
    "LOOP",
    "LSL",
    "LSR",
    "LT",
    "MAP",
    "MEM",
    "MUL",
    "NEG",
    "NEQ",
    "NIL",
    "NONE",
    "NOT",
    "NOW",
    "OR",
    "PAIR",
    "PUSH",
    "RIGHT",
    "SIZE",
    "SOME",
    "SOURCE",
    "SENDER",
    "SELF",
    "STEPS_TO_QUOTA",
    "SUB",
    "SWAP",
    "TRANSFER_TOKENS",
    "SET_DELEGATE",
    "UNIT",
    "UPDATE",
    "XOR",
    "ITER",
    "LOOP_LEFT",
    "ADDRESS",
    "CONTRACT",
    "ISNAT",
    "CAST",
    "RENAME",
    "bool",
    "contract",
    "int",
    "key",
    "key_hash",
    "lambda",
    "list",
    "map",
    "big_map",
    "nat",
    "option",
    "or",
    "pair",
    "set",
    "signature",
    "string",
    "bytes",
    "mutez",
    "timestamp",
    "unit",
    "operation",
    "address",
    "SLICE",
    "DIG",
    "DUG",
    "EMPTY_BIG_MAP",
    "APPLY",
    "chain_id",
    "CHAIN_ID",
    "LEVEL",
    "SELF_ADDRESS",
    "never",
    "NEVER",
    "UNPAIR",
    "VOTING_POWER",
    "TOTAL_VOTING_POWER",
    "KECCAK",
    "SHA3",
    "PAIRING_CHECK",
    "bls12_381_g1",
    "bls12_381_g2",
    "bls12_381_fr",
    "sapling_state",
    "sapling_transaction_deprecated",
    "SAPLING_EMPTY_STATE",
    "SAPLING_VERIFY_UPDATE",
    "ticket",
    "TICKET_DEPRECATED",
    "READ_TICKET",
    "SPLIT_TICKET",
    "JOIN_TICKETS",
    "GET_AND_UPDATE",
    "chest",
    "chest_key",
    "OPEN_CHEST",
    "VIEW",
    "view",
    "constant",
    "SUB_MUTEZ",
    "tx_rollup_l2_address",
    "MIN_BLOCK_TIME",
    "sapling_transaction",
    "EMIT",
    "Lambda_rec",
    "LAMBDA_REC",
    "TICKET",
    "BYTES",
    "NAT",
    "Ticket",
];

use super::Prim;

impl Prim {
    /// `parameter` (code 0).
    pub const K_PARAMETER: Prim = Prim(0);
    /// `storage` (code 1).
    pub const K_STORAGE: Prim = Prim(1);
    /// `code` (code 2).
    pub const K_CODE: Prim = Prim(2);
    /// `False` (code 3).
    pub const D_FALSE: Prim = Prim(3);
    /// `Elt` (code 4).
    pub const D_ELT: Prim = Prim(4);
    /// `Left` (code 5).
    pub const D_LEFT: Prim = Prim(5);
    /// `None` (code 6).
    pub const D_NONE: Prim = Prim(6);
    /// `Pair` (code 7).
    pub const D_PAIR: Prim = Prim(7);
    /// `Right` (code 8).
    pub const D_RIGHT: Prim = Prim(8);
    /// `Some` (code 9).
    pub const D_SOME: Prim = Prim(9);
    /// `True` (code 10).
    pub const D_TRUE: Prim = Prim(10);
    /// `Unit` (code 11).
    pub const D_UNIT: Prim = Prim(11);
    /// `PACK` (code 12).
    pub const I_PACK: Prim = Prim(12);
    /// `UNPACK` (code 13).
    pub const I_UNPACK: Prim = Prim(13);
    /// `BLAKE2B` (code 14).
    pub const I_BLAKE2B: Prim = Prim(14);
    /// `SHA256` (code 15).
    pub const I_SHA256: Prim = Prim(15);
    /// `SHA512` (code 16).
    pub const I_SHA512: Prim = Prim(16);
    /// `ABS` (code 17).
    pub const I_ABS: Prim = Prim(17);
    /// `ADD` (code 18).
    pub const I_ADD: Prim = Prim(18);
    /// `AMOUNT` (code 19).
    pub const I_AMOUNT: Prim = Prim(19);
    /// `AND` (code 20).
    pub const I_AND: Prim = Prim(20);
    /// `BALANCE` (code 21).
    pub const I_BALANCE: Prim = Prim(21);
    /// `CAR` (code 22).
    pub const I_CAR: Prim = Prim(22);
    /// `CDR` (code 23).
    pub const I_CDR: Prim = Prim(23);
    /// `CHECK_SIGNATURE` (code 24).
    pub const I_CHECK_SIGNATURE: Prim = Prim(24);
    /// `COMPARE` (code 25).
    pub const I_COMPARE: Prim = Prim(25);
    /// `CONCAT` (code 26).
    pub const I_CONCAT: Prim = Prim(26);
    /// `CONS` (code 27).
    pub const I_CONS: Prim = Prim(27);
    /// `CREATE_ACCOUNT` (code 28).
    pub const I_CREATE_ACCOUNT: Prim = Prim(28);
    /// `CREATE_CONTRACT` (code 29).
    pub const I_CREATE_CONTRACT: Prim = Prim(29);
    /// `IMPLICIT_ACCOUNT` (code 30).
    pub const I_IMPLICIT_ACCOUNT: Prim = Prim(30);
    /// `DIP` (code 31).
    pub const I_DIP: Prim = Prim(31);
    /// `DROP` (code 32).
    pub const I_DROP: Prim = Prim(32);
    /// `DUP` (code 33).
    pub const I_DUP: Prim = Prim(33);
    /// `EDIV` (code 34).
    pub const I_EDIV: Prim = Prim(34);
    /// `EMPTY_MAP` (code 35).
    pub const I_EMPTY_MAP: Prim = Prim(35);
    /// `EMPTY_SET` (code 36).
    pub const I_EMPTY_SET: Prim = Prim(36);
    /// `EQ` (code 37).
    pub const I_EQ: Prim = Prim(37);
    /// `EXEC` (code 38).
    pub const I_EXEC: Prim = Prim(38);
    /// `FAILWITH` (code 39).
    pub const I_FAILWITH: Prim = Prim(39);
    /// `GE` (code 40).
    pub const I_GE: Prim = Prim(40);
    /// `GET` (code 41).
    pub const I_GET: Prim = Prim(41);
    /// `GT` (code 42).
    pub const I_GT: Prim = Prim(42);
    /// `HASH_KEY` (code 43).
    pub const I_HASH_KEY: Prim = Prim(43);
    /// `IF` (code 44).
    pub const I_IF: Prim = Prim(44);
    /// `IF_CONS` (code 45).
    pub const I_IF_CONS: Prim = Prim(45);
    /// `IF_LEFT` (code 46).
    pub const I_IF_LEFT: Prim = Prim(46);
    /// `IF_NONE` (code 47).
    pub const I_IF_NONE: Prim = Prim(47);
    /// `INT` (code 48).
    pub const I_INT: Prim = Prim(48);
    /// `LAMBDA` (code 49).
    pub const I_LAMBDA: Prim = Prim(49);
    /// `LE` (code 50).
    pub const I_LE: Prim = Prim(50);
    /// `LEFT` (code 51).
    pub const I_LEFT: Prim = Prim(51);
    /// `LOOP` (code 52).
    pub const I_LOOP: Prim = Prim(52);
    /// `LSL` (code 53).
    pub const I_LSL: Prim = Prim(53);
    /// `LSR` (code 54).
    pub const I_LSR: Prim = Prim(54);
    /// `LT` (code 55).
    pub const I_LT: Prim = Prim(55);
    /// `MAP` (code 56).
    pub const I_MAP: Prim = Prim(56);
    /// `MEM` (code 57).
    pub const I_MEM: Prim = Prim(57);
    /// `MUL` (code 58).
    pub const I_MUL: Prim = Prim(58);
    /// `NEG` (code 59).
    pub const I_NEG: Prim = Prim(59);
    /// `NEQ` (code 60).
    pub const I_NEQ: Prim = Prim(60);
    /// `NIL` (code 61).
    pub const I_NIL: Prim = Prim(61);
    /// `NONE` (code 62).
    pub const I_NONE: Prim = Prim(62);
    /// `NOT` (code 63).
    pub const I_NOT: Prim = Prim(63);
    /// `NOW` (code 64).
    pub const I_NOW: Prim = Prim(64);
    /// `OR` (code 65).
    pub const I_OR: Prim = Prim(65);
    /// `PAIR` (code 66).
    pub const I_PAIR: Prim = Prim(66);
    /// `PUSH` (code 67).
    pub const I_PUSH: Prim = Prim(67);
    /// `RIGHT` (code 68).
    pub const I_RIGHT: Prim = Prim(68);
    /// `SIZE` (code 69).
    pub const I_SIZE: Prim = Prim(69);
    /// `SOME` (code 70).
    pub const I_SOME: Prim = Prim(70);
    /// `SOURCE` (code 71).
    pub const I_SOURCE: Prim = Prim(71);
    /// `SENDER` (code 72).
    pub const I_SENDER: Prim = Prim(72);
    /// `SELF` (code 73).
    pub const I_SELF: Prim = Prim(73);
    /// `STEPS_TO_QUOTA` (code 74).
    pub const I_STEPS_TO_QUOTA: Prim = Prim(74);
    /// `SUB` (code 75).
    pub const I_SUB: Prim = Prim(75);
    /// `SWAP` (code 76).
    pub const I_SWAP: Prim = Prim(76);
    /// `TRANSFER_TOKENS` (code 77).
    pub const I_TRANSFER_TOKENS: Prim = Prim(77);
    /// `SET_DELEGATE` (code 78).
    pub const I_SET_DELEGATE: Prim = Prim(78);
    /// `UNIT` (code 79).
    pub const I_UNIT: Prim = Prim(79);
    /// `UPDATE` (code 80).
    pub const I_UPDATE: Prim = Prim(80);
    /// `XOR` (code 81).
    pub const I_XOR: Prim = Prim(81);
    /// `ITER` (code 82).
    pub const I_ITER: Prim = Prim(82);
    /// `LOOP_LEFT` (code 83).
    pub const I_LOOP_LEFT: Prim = Prim(83);
    /// `ADDRESS` (code 84).
    pub const I_ADDRESS: Prim = Prim(84);
    /// `CONTRACT` (code 85).
    pub const I_CONTRACT: Prim = Prim(85);
    /// `ISNAT` (code 86).
    pub const I_ISNAT: Prim = Prim(86);
    /// `CAST` (code 87).
    pub const I_CAST: Prim = Prim(87);
    /// `RENAME` (code 88).
    pub const I_RENAME: Prim = Prim(88);
    /// `bool` (code 89).
    pub const T_BOOL: Prim = Prim(89);
    /// `contract` (code 90).
    pub const T_CONTRACT: Prim = Prim(90);
    /// `int` (code 91).
    pub const T_INT: Prim = Prim(91);
    /// `key` (code 92).
    pub const T_KEY: Prim = Prim(92);
    /// `key_hash` (code 93).
    pub const T_KEY_HASH: Prim = Prim(93);
    /// `lambda` (code 94).
    pub const T_LAMBDA: Prim = Prim(94);
    /// `list` (code 95).
    pub const T_LIST: Prim = Prim(95);
    /// `map` (code 96).
    pub const T_MAP: Prim = Prim(96);
    /// `big_map` (code 97).
    pub const T_BIG_MAP: Prim = Prim(97);
    /// `nat` (code 98).
    pub const T_NAT: Prim = Prim(98);
    /// `option` (code 99).
    pub const T_OPTION: Prim = Prim(99);
    /// `or` (code 100).
    pub const T_OR: Prim = Prim(100);
    /// `pair` (code 101).
    pub const T_PAIR: Prim = Prim(101);
    /// `set` (code 102).
    pub const T_SET: Prim = Prim(102);
    /// `signature` (code 103).
    pub const T_SIGNATURE: Prim = Prim(103);
    /// `string` (code 104).
    pub const T_STRING: Prim = Prim(104);
    /// `bytes` (code 105).
    pub const T_BYTES: Prim = Prim(105);
    /// `mutez` (code 106).
    pub const T_MUTEZ: Prim = Prim(106);
    /// `timestamp` (code 107).
    pub const T_TIMESTAMP: Prim = Prim(107);
    /// `unit` (code 108).
    pub const T_UNIT: Prim = Prim(108);
    /// `operation` (code 109).
    pub const T_OPERATION: Prim = Prim(109);
    /// `address` (code 110).
    pub const T_ADDRESS: Prim = Prim(110);
    /// `SLICE` (code 111).
    pub const I_SLICE: Prim = Prim(111);
    /// `DIG` (code 112).
    pub const I_DIG: Prim = Prim(112);
    /// `DUG` (code 113).
    pub const I_DUG: Prim = Prim(113);
    /// `EMPTY_BIG_MAP` (code 114).
    pub const I_EMPTY_BIG_MAP: Prim = Prim(114);
    /// `APPLY` (code 115).
    pub const I_APPLY: Prim = Prim(115);
    /// `chain_id` (code 116).
    pub const T_CHAIN_ID: Prim = Prim(116);
    /// `CHAIN_ID` (code 117).
    pub const I_CHAIN_ID: Prim = Prim(117);
    /// `LEVEL` (code 118).
    pub const I_LEVEL: Prim = Prim(118);
    /// `SELF_ADDRESS` (code 119).
    pub const I_SELF_ADDRESS: Prim = Prim(119);
    /// `never` (code 120).
    pub const T_NEVER: Prim = Prim(120);
    /// `NEVER` (code 121).
    pub const I_NEVER: Prim = Prim(121);
    /// `UNPAIR` (code 122).
    pub const I_UNPAIR: Prim = Prim(122);
    /// `VOTING_POWER` (code 123).
    pub const I_VOTING_POWER: Prim = Prim(123);
    /// `TOTAL_VOTING_POWER` (code 124).
    pub const I_TOTAL_VOTING_POWER: Prim = Prim(124);
    /// `KECCAK` (code 125).
    pub const I_KECCAK: Prim = Prim(125);
    /// `SHA3` (code 126).
    pub const I_SHA3: Prim = Prim(126);
    /// `PAIRING_CHECK` (code 127).
    pub const I_PAIRING_CHECK: Prim = Prim(127);
    /// `bls12_381_g1` (code 128).
    pub const T_BLS12_381_G1: Prim = Prim(128);
    /// `bls12_381_g2` (code 129).
    pub const T_BLS12_381_G2: Prim = Prim(129);
    /// `bls12_381_fr` (code 130).
    pub const T_BLS12_381_FR: Prim = Prim(130);
    /// `sapling_state` (code 131).
    pub const T_SAPLING_STATE: Prim = Prim(131);
    /// `sapling_transaction_deprecated` (code 132).
    pub const T_SAPLING_TRANSACTION_DEPRECATED: Prim = Prim(132);
    /// `SAPLING_EMPTY_STATE` (code 133).
    pub const I_SAPLING_EMPTY_STATE: Prim = Prim(133);
    /// `SAPLING_VERIFY_UPDATE` (code 134).
    pub const I_SAPLING_VERIFY_UPDATE: Prim = Prim(134);
    /// `ticket` (code 135).
    pub const T_TICKET: Prim = Prim(135);
    /// `TICKET_DEPRECATED` (code 136).
    pub const I_TICKET_DEPRECATED: Prim = Prim(136);
    /// `READ_TICKET` (code 137).
    pub const I_READ_TICKET: Prim = Prim(137);
    /// `SPLIT_TICKET` (code 138).
    pub const I_SPLIT_TICKET: Prim = Prim(138);
    /// `JOIN_TICKETS` (code 139).
    pub const I_JOIN_TICKETS: Prim = Prim(139);
    /// `GET_AND_UPDATE` (code 140).
    pub const I_GET_AND_UPDATE: Prim = Prim(140);
    /// `chest` (code 141).
    pub const T_CHEST: Prim = Prim(141);
    /// `chest_key` (code 142).
    pub const T_CHEST_KEY: Prim = Prim(142);
    /// `OPEN_CHEST` (code 143).
    pub const I_OPEN_CHEST: Prim = Prim(143);
    /// `VIEW` (code 144).
    pub const I_VIEW: Prim = Prim(144);
    /// `view` (code 145).
    pub const K_VIEW: Prim = Prim(145);
    /// `constant` (code 146).
    pub const H_CONSTANT: Prim = Prim(146);
    /// `SUB_MUTEZ` (code 147).
    pub const I_SUB_MUTEZ: Prim = Prim(147);
    /// `tx_rollup_l2_address` (code 148).
    pub const T_TX_ROLLUP_L2_ADDRESS: Prim = Prim(148);
    /// `MIN_BLOCK_TIME` (code 149).
    pub const I_MIN_BLOCK_TIME: Prim = Prim(149);
    /// `sapling_transaction` (code 150).
    pub const T_SAPLING_TRANSACTION: Prim = Prim(150);
    /// `EMIT` (code 151).
    pub const I_EMIT: Prim = Prim(151);
    /// `Lambda_rec` (code 152).
    pub const D_LAMBDA_REC: Prim = Prim(152);
    /// `LAMBDA_REC` (code 153).
    pub const I_LAMBDA_REC: Prim = Prim(153);
    /// `TICKET` (code 154).
    pub const I_TICKET: Prim = Prim(154);
    /// `BYTES` (code 155).
    pub const I_BYTES: Prim = Prim(155);
    /// `NAT` (code 156).
    pub const I_NAT: Prim = Prim(156);
    /// `Ticket` (code 157).
    pub const D_TICKET: Prim = Prim(157);
}
