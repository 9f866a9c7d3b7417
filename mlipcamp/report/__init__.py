"""What people read: tables (Markdown, CSV, terminal cells) and every figure of a campaign."""
