//! The examples that end each subcommand's `--help` (clap `after_help`).
//! Every line starting with `chronicle` is parsed by the real argument
//! parser in a test below, so an example can never name a flag that does
//! not exist.

pub const IMPORT: &str = "\
Examples:
  chronicle import csv jan.csv feb.csv --mapping payments.toml
  chronicle import dump ledger.sql.gz --mapping ledger.toml --dry-run
  chronicle export --store sqlite:old.db | chronicle import events - --store sqlite:new.db";

pub const IMPORT_CSV: &str = "\
Examples:
  chronicle import csv jan.csv feb.csv --mapping payments.toml
  chronicle import csv payments.csv.gz --mapping payments.toml --dry-run
  chronicle import csv payments.csv -m payments.toml --rejects bad.csv --max-rejects 100
  gunzip -c payments.csv.gz | chronicle import csv - --mapping payments.toml";

pub const IMPORT_DUMP: &str = "\
Examples:
  chronicle import dump pg_dump.sql.gz --mapping ledger-pg.toml
  chronicle import dump dump/shop/orders.bson --mapping orders.toml --dry-run
  chronicle import dump mysqldump.sql --mapping payments-my.toml --json";

pub const IMPORT_EVENTS: &str = "\
Examples:
  chronicle import events other-store.jsonl
  chronicle export --store sqlite:old.db | chronicle import events - --store sqlite:new.db";

pub const MAPPING: &str = "\
Examples:
  chronicle mapping draft exports/payments.csv -o payments.toml
  chronicle mapping draft dump.sql --table public.payments -o payments-pg.toml";

pub const EXPORT: &str = "\
Examples:
  chronicle export -o all.jsonl
  chronicle export --type payment-completed --since 2016-01-01 --until 2016-02-01
  chronicle export --store mongodb://db1.internal:27017/ledger | head -1";

pub const STATUS: &str = "\
Examples:
  chronicle status
  chronicle status --json --store mongodb://db1.internal:27017/ledger";

pub const ARCHIVE: &str = "\
Examples:
  chronicle archive --before 90d
  chronicle archive --before 2016-03-01 --dry-run
  chronicle archive --before 30d --partition day --to /mnt/archive --keep-live";

pub const VERIFY: &str = "\
Examples:
  chronicle verify
  chronicle verify --archive /mnt/archive
  chronicle --quiet verify --metrics-file /srv/metrics/chronicle-verify.prom";

pub const REPLAY: &str = "\
Examples:
  chronicle replay --from /mnt/archive --type payment-refunded
  chronicle replay --since 2016-01-01 --until 2016-02-01 --store sqlite:scratch.db";

pub const REBUILD: &str = "\
Examples:
  chronicle rebuild revenue
  chronicle rebuild payment_state --dry-run
  chronicle rebuild revenue --archive /mnt/archive --json";

pub const PROJECT: &str = "\
Examples:
  chronicle project revenue
  chronicle project revenue --dry-run
  chronicle --quiet project revenue --metrics-file /srv/metrics/chronicle-revenue.prom";

pub const COMPLETIONS: &str = "\
Examples:
  chronicle completions bash > /etc/bash_completion.d/chronicle
  chronicle completions zsh > ~/.zfunc/_chronicle
  chronicle completions fish > ~/.config/fish/completions/chronicle.fish
  chronicle completions powershell >> $PROFILE";

pub const MAN: &str = "\
Examples:
  chronicle man --dir /usr/local/share/man/man1
  chronicle man | man -l -";
