# Reads everything from settings.ini (the nbdev 2 layout); edit that file, not this one.
from configparser import ConfigParser
import shlex, setuptools

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

for key in 'version description keywords author author_email lib_name user license status min_python'.split():
    assert key in cfg, f'settings.ini lacks {key}'

# settings.ini's `<name>_requirements` are the extras `[name]` (nbdev's own dev_requirements is `[dev]`); `[all]` is every
# extra but the development tools, `[dev]` includes `[all]`
extras = {key[:-len('_requirements')]: shlex.split(value) for key, value in cfg.items()
          if key.endswith('_requirements') and key not in ('dev_requirements', 'pip_requirements', 'conda_requirements')}
extras['all'] = sorted({r for rs in extras.values() for r in rs})
extras['dev'] = extras['all'] + shlex.split(cfg.get('dev_requirements', ''))

statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable']
licenses = {'mit': 'MIT'}  # an SPDX expression: setuptools no longer wants license classifiers

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
    license=licenses[cfg['license'].lower()],
    classifiers=[f'Development Status :: {statuses[int(cfg["status"]) - 1]}',
                 f'Intended Audience :: {cfg["audience"]}',
                 f'Natural Language :: {cfg["language"]}',
                 'Programming Language :: Python :: 3',
                 'Topic :: Scientific/Engineering :: Artificial Intelligence'],
    url=cfg['git_url'],
    # namespace packages: the shipped tiny world's folders (pretrain.embedded_world_dir) hold data, not code, and
    # setuptools warns about every data folder that is not listed as a package
    packages=setuptools.find_namespace_packages(include=[cfg['lib_name'], cfg['lib_name'] + '.*'], exclude=['*.__pycache__']),
    include_package_data=True,
    package_data={cfg['lib_name'] + '.tiny_world': ['*.json', '*/*'], cfg['lib_name'] + '.tiny_world.lm': ['*'],
                  cfg['lib_name'] + '.tiny_world.vision': ['*'], cfg['lib_name'] + '.tiny_world.demo': ['*']},
    install_requires=shlex.split(cfg.get('requirements', '')),
    extras_require=extras,
    python_requires='>=' + cfg['min_python'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={
        'console_scripts': shlex.split(cfg.get('console_scripts', '')),
        'nbdev': [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d'],
    },
)
