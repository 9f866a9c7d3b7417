"""The science of a campaign as plain typed functions: structures, QM labels, datasets, MACE
training and evaluation, MD and its analysis. Nothing here imports Prefect, SQLAlchemy, the
database layer or the flows."""
