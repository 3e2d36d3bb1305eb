# frozen_string_literal: true
#
# Applies CommonsCloud's site settings to Discourse, then reads them back.
# Run by `cc-discourse configure` as `bin/rails runner THIS_FILE SETTINGS.json`.
#
# SETTINGS.json is one JSON object, setting name => value, written by the recipe (its
# template is recipes/discourse/templates/site-settings.json). Its order is the order of
# application: the LDAP plugin is set up before local logins are turned off.
#
# Fails, changing nothing, when a name is not a setting of this Discourse (a renamed setting
# must not be skipped silently); fails after applying when a value does not read back.
# Values are never printed: the LDAP bind password is among them.

require "json"

path = ARGV.fetch(0) { abort("usage: rails runner configure.rb SETTINGS.json") }
wanted = JSON.parse(File.read(path))
abort("#{path}: expected a JSON object of site settings") unless wanted.is_a?(Hash)

unknown = wanted.keys.reject { |name| SiteSetting.has_setting?(name) }
if unknown.any?
  abort("#{path}: not site settings of this Discourse (nothing changed): #{unknown.sort.join(", ")}")
end

same = ->(name, value) { SiteSetting.public_send(name).to_s == value.to_s }

changed = []
wanted.each do |name, value|
  next if same.call(name, value)
  SiteSetting.set_and_log(name, value)
  changed << name
end

wrong = wanted.reject { |name, value| same.call(name, value) }.keys
abort("site settings that did not take their value: #{wrong.sort.join(", ")}") if wrong.any?

puts "site settings: #{wanted.size} checked, #{changed.size} changed" \
       "#{changed.empty? ? "" : " (#{changed.join(", ")})"}"
