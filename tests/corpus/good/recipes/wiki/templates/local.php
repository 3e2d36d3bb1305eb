<?php
$conf['title'] = '{{ app.settings.title }}';
$conf['baseurl'] = 'https://{{ app.fqdn }}';
