"""initial schema

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('artifact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('owner', 'name')
    )
    op.create_table('campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('config_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('level_of_theory',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('code_version', sa.String(length=50), nullable=False),
    sa.Column('method', sa.String(length=100), nullable=False),
    sa.Column('basis', sa.String(length=100), nullable=True),
    sa.Column('dispersion', sa.String(length=100), nullable=True),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hash')
    )
    with op.batch_alter_table('level_of_theory', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_level_of_theory_name'), ['name'], unique=False)

    op.create_table('structure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('formula', sa.String(length=200), nullable=False),
    sa.Column('n_atoms', sa.Integer(), nullable=False),
    sa.Column('n_molecules', sa.Integer(), nullable=False),
    sa.Column('pbc', sa.Boolean(), nullable=False),
    sa.Column('file', sa.String(length=300), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('source', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hash')
    )
    with op.batch_alter_table('structure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_structure_kind'), ['kind'], unique=False)

    op.create_table('campaign_member',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('table', sa.String(length=30), nullable=False),
    sa.Column('row_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.PrimaryKeyConstraint('campaign_id', 'table', 'row_id')
    )
    op.create_table('dataset',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('level_of_theory_id', sa.Integer(), nullable=False),
    sa.Column('data_kind', sa.String(length=20), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('subset_replica', sa.Integer(), nullable=False),
    sa.Column('selection', sa.String(length=50), nullable=False),
    sa.Column('n_train', sa.Integer(), nullable=False),
    sa.Column('n_valid', sa.Integer(), nullable=False),
    sa.Column('n_test', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['level_of_theory_id'], ['level_of_theory.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('dataset', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_data_kind'), ['data_kind'], unique=False)

    op.create_table('label',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('structure_id', sa.Integer(), nullable=False),
    sa.Column('level_of_theory_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('energy_ev', sa.Float(), nullable=True),
    sa.Column('arrays_file', sa.String(length=300), nullable=True),
    sa.Column('arrays_sha256', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('wall_time_s', sa.Float(), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['level_of_theory_id'], ['level_of_theory.id'], ),
    sa.ForeignKeyConstraint(['structure_id'], ['structure.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('structure_id', 'level_of_theory_id')
    )
    with op.batch_alter_table('label', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_label_level_of_theory_id'), ['level_of_theory_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_label_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_label_structure_id'), ['structure_id'], unique=False)

    op.create_table('liquid_box',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('liquid', sa.String(length=100), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('n_molecules', sa.Integer(), nullable=False),
    sa.Column('density_g_cm3', sa.Float(), nullable=False),
    sa.Column('composition', sa.JSON(), nullable=False),
    sa.Column('structure_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['structure_id'], ['structure.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('liquid_box', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_liquid_box_liquid'), ['liquid'], unique=False)

    op.create_table('sample_set',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('liquid', sa.String(length=100), nullable=False),
    sa.Column('box_structure_id', sa.Integer(), nullable=True),
    sa.Column('potential', sa.String(length=200), nullable=False),
    sa.Column('temperature_k', sa.Float(), nullable=True),
    sa.Column('n_steps', sa.Integer(), nullable=True),
    sa.Column('timestep_fs', sa.Float(), nullable=True),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('wall_time_s', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['box_structure_id'], ['structure.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('sample_set', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sample_set_liquid'), ['liquid'], unique=False)

    op.create_table('dataset_member',
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('label_id', sa.Integer(), nullable=False),
    sa.Column('split', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], ),
    sa.ForeignKeyConstraint(['label_id'], ['label.id'], ),
    sa.PrimaryKeyConstraint('dataset_id', 'label_id')
    )
    op.create_table('model',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=10), nullable=False),
    sa.Column('base_model_id', sa.Integer(), nullable=True),
    sa.Column('base_model_sha256', sa.String(length=64), nullable=True),
    sa.Column('hyperparameters', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('device', sa.String(length=50), nullable=True),
    sa.Column('mace_version', sa.String(length=50), nullable=True),
    sa.Column('e0s_ev', sa.JSON(), nullable=True),
    sa.Column('train_time_s', sa.Float(), nullable=True),
    sa.Column('seconds_per_epoch', sa.Float(), nullable=True),
    sa.Column('epochs', sa.Integer(), nullable=True),
    sa.Column('peak_memory_mb', sa.Float(), nullable=True),
    sa.Column('file', sa.String(length=300), nullable=True),
    sa.Column('file_sha256', sa.String(length=64), nullable=True),
    sa.Column('rmse_e_train_mev_per_atom', sa.Float(), nullable=True),
    sa.Column('rmse_e_valid_mev_per_atom', sa.Float(), nullable=True),
    sa.Column('rmse_e_test_mev_per_atom', sa.Float(), nullable=True),
    sa.Column('rmse_f_train_mev_per_ang', sa.Float(), nullable=True),
    sa.Column('rmse_f_valid_mev_per_ang', sa.Float(), nullable=True),
    sa.Column('rmse_f_test_mev_per_ang', sa.Float(), nullable=True),
    sa.Column('metrics', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['base_model_id'], ['model.id'], ),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('model', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_purpose'), ['purpose'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_seed'), ['seed'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_status'), ['status'], unique=False)

    op.create_table('sample_member',
    sa.Column('sample_set_id', sa.Integer(), nullable=False),
    sa.Column('structure_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['sample_set_id'], ['sample_set.id'], ),
    sa.ForeignKeyConstraint(['structure_id'], ['structure.id'], ),
    sa.PrimaryKeyConstraint('sample_set_id', 'structure_id')
    )
    op.create_table('md_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('liquid', sa.String(length=100), nullable=False),
    sa.Column('box_structure_id', sa.Integer(), nullable=False),
    sa.Column('ensemble', sa.String(length=20), nullable=False),
    sa.Column('temperature_k', sa.Float(), nullable=False),
    sa.Column('pressure_bar', sa.Float(), nullable=True),
    sa.Column('timestep_fs', sa.Float(), nullable=False),
    sa.Column('n_steps_target', sa.Integer(), nullable=False),
    sa.Column('n_steps_done', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('wall_time_s', sa.Float(), nullable=True),
    sa.Column('steps_per_s', sa.Float(), nullable=True),
    sa.Column('ns_per_day', sa.Float(), nullable=True),
    sa.Column('device', sa.String(length=50), nullable=True),
    sa.Column('log_file', sa.String(length=300), nullable=True),
    sa.Column('trajectory_file', sa.String(length=300), nullable=True),
    sa.Column('trajectory_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['box_structure_id'], ['structure.id'], ),
    sa.ForeignKeyConstraint(['model_id'], ['model.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('md_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_md_run_liquid'), ['liquid'], unique=False)
        batch_op.create_index(batch_op.f('ix_md_run_model_id'), ['model_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_md_run_status'), ['status'], unique=False)

    op.create_table('observable',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('md_run_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('sem', sa.Float(), nullable=True),
    sa.Column('unit', sa.String(length=30), nullable=False),
    sa.Column('method', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['md_run_id'], ['md_run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('md_run_id', 'name')
    )
    with op.batch_alter_table('observable', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_observable_md_run_id'), ['md_run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_observable_name'), ['name'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('observable', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_observable_name'))
        batch_op.drop_index(batch_op.f('ix_observable_md_run_id'))

    op.drop_table('observable')
    with op.batch_alter_table('md_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_md_run_status'))
        batch_op.drop_index(batch_op.f('ix_md_run_model_id'))
        batch_op.drop_index(batch_op.f('ix_md_run_liquid'))

    op.drop_table('md_run')
    op.drop_table('sample_member')
    with op.batch_alter_table('model', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_status'))
        batch_op.drop_index(batch_op.f('ix_model_seed'))
        batch_op.drop_index(batch_op.f('ix_model_purpose'))
        batch_op.drop_index(batch_op.f('ix_model_dataset_id'))

    op.drop_table('model')
    op.drop_table('dataset_member')
    with op.batch_alter_table('sample_set', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sample_set_liquid'))

    op.drop_table('sample_set')
    with op.batch_alter_table('liquid_box', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_liquid_box_liquid'))

    op.drop_table('liquid_box')
    with op.batch_alter_table('label', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_label_structure_id'))
        batch_op.drop_index(batch_op.f('ix_label_status'))
        batch_op.drop_index(batch_op.f('ix_label_level_of_theory_id'))

    op.drop_table('label')
    with op.batch_alter_table('dataset', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dataset_data_kind'))

    op.drop_table('dataset')
    op.drop_table('campaign_member')
    with op.batch_alter_table('structure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_structure_kind'))

    op.drop_table('structure')
    with op.batch_alter_table('level_of_theory', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_level_of_theory_name'))

    op.drop_table('level_of_theory')
    op.drop_table('campaign')
    op.drop_table('artifact')

