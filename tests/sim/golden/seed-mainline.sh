# The same two guests on a mainline kernel (examples/hosts/seed.yaml, 6.12),
# the way kernel-abi.md §3 orders it.  Run inside tests/lib/with-sim with
# bash -e; the resulting /sys/.sim/dump must equal seed-mainline.dump.
# What differs from the RFC:
# - reservation is by masks, a cross product: taking adapters 05, 06 and
#   domains 04, 47, ab, ff from the host also takes 06.0047 and 06.00ff,
#   which stay bound to vfio_ap unassigned;
# - numbers are base 0, so hex needs 0x (47 would be decimal 47 = 0x2f);
# - usage domains are not control domains by themselves: assigned explicitly.
uuid1=11111111-2222-3333-4444-555555555555
uuid2=66666666-7777-8888-9999-aaaaaaaaaaaa

# 1., 2. reserve adapters and domains for vfio_ap
echo -0x05,-0x06 > /sys/bus/ap/apmask
echo -0x04,-0x47,-0xab,-0xff > /sys/bus/ap/aqmask

# 3. create the mediated devices
cd /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough
echo $uuid1 > create
echo $uuid2 > create

# 4. configure them
cd ./devices/$uuid1
echo 5 > assign_adapter
echo 6 > assign_adapter
echo 0x04 > assign_domain
echo 0xab > assign_domain
echo 0x04 > assign_control_domain
echo 0xab > assign_control_domain
cd ../$uuid2
echo 5 > assign_adapter
echo 0x47 > assign_domain
echo 0xff > assign_domain
echo 0x47 > assign_control_domain
echo 0xff > assign_control_domain

# 5., 6. start the guests
echo "attach $uuid1" > /sys/.sim/guest
echo "attach $uuid2" > /sys/.sim/guest
